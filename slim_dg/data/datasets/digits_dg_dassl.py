"""``digits_dg_dassl``: Dassl's Digits-DG (Zhou et al., AAAI 2020): MNIST, MNIST-M, SVHN, SYN.

Not to be confused with ``digits_dg``, our embedded generator. Layout (Dassl's archive, whose
``digits_dg`` folder is moved to ``digits_dg_dassl`` so both can share a root)::

    digits_dg_dassl/<domain>/{train,val}/<class 0-9>/<image>.jpg

Sources train on ``train`` and validate on ``val``; a target domain is tested on both (Dassl).
"""
from __future__ import annotations

import os

from ..build import DATASET_REGISTRY
from ..download.sources import Source, gdrive
from .base import DomainSplits
from .downloadable import DownloadableDataset

DOMAINS = ("mnist", "mnist_m", "svhn", "syn")
CLASSNAMES = tuple(str(i) for i in range(10))


@DATASET_REGISTRY.register(name="digits_dg_dassl")
class DigitsDGDassl(DownloadableDataset):
    """mnist, mnist_m, svhn, syn; 10 classes; 600 images per class and domain."""

    name = "digits_dg_dassl"
    domains = DOMAINS
    dataset_dir = "digits_dg_dassl"
    homepage = "https://github.com/KaiyangZhou/Dassl.pytorch/blob/master/DATASETS.md#digits-dg"
    # Dassl's Google Drive archive; no checksum published: counts are verified
    sources = (Source("digits_dg.zip", (gdrive("15V7EsHfCcfbKgsDmzQKj_DfXt_XYp_P7"),),
                      (("digits_dg", "digits_dg_dassl"),)),)
    # Zhou et al. 2020: 600 images per class in each domain, split 80% train / 20% val
    expected_counts = {d: 6000 for d in DOMAINS}

    @property
    def classnames(self) -> list[str]:
        return list(CLASSNAMES)

    def load_domain(self, domain: str) -> DomainSplits:
        base = self.require_dir(os.path.join(self.dataset_root, domain), f"train/ and val/ of {domain}")
        return DomainSplits(*(self.read_class_folders(os.path.join(base, s), self.classnames, domain)
                              for s in ("train", "val")))
