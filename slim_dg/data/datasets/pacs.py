"""``pacs``: PACS (Li et al., ICCV 2017) with the authors' official train/crossval split lists.

Layout (Dassl's archive of the authors' release)::

    pacs/images/<domain>/<class>/<image>
    pacs/splits/<domain>_{train,crossval,test}_kfold.txt   lines "<domain>/<class>/<image> <label 1-7>"

A line whose label contradicts its class folder gets the folder's class (``relabel``).
Sources train on ``train_kfold`` and validate on ``crossval_kfold``; a target domain is tested on
all its images (train + crossval, Dassl's protocol; the authors' ``test_kfold`` lists the same
images and is not read).
"""
from __future__ import annotations

import os

from ..build import DATASET_REGISTRY
from ..download.sources import Source, gdrive
from .base import Datum, DomainSplits
from .downloadable import DownloadableDataset, read_numbered_image_list
from .relabel import Relabelled

DOMAINS = ("art_painting", "cartoon", "photo", "sketch")
CLASSNAMES = ("dog", "elephant", "giraffe", "guitar", "horse", "house", "person")  # labels 1..7 in the lists
# Dassl leaves this listed image out: the file in the release cannot be decoded
BAD_IMAGES = frozenset({"sketch/dog/n02103406_4068-1.png"})


@DATASET_REGISTRY.register(name="pacs")
class PACS(DownloadableDataset):
    """Photo, Art painting, Cartoon, Sketch; 7 classes; 9,991 images."""

    name = "pacs"
    domains = DOMAINS
    dataset_dir = "pacs"
    homepage = "https://domaingeneralization.github.io/#data (original: http://www.eecs.qmul.ac.uk/~dl307/project_iccv2017)"
    # Dassl.pytorch's archive (images/ + splits/), the one release that ships the split lists in
    # this layout. Nobody publishes a checksum for it: the image counts are verified instead.
    sources = (
        Source("pacs.zip", (gdrive("1m4X4fROCCXMO0lRLrr6Zz9Vb3974NWhE"),), (("pacs", "pacs"),)),
    )
    # Li et al. 2017, Table 1; Dassl's docstring gives the same numbers
    expected_counts = {"art_painting": 2048, "cartoon": 2344, "photo": 1670, "sketch": 3929}

    @property
    def classnames(self) -> list[str]:
        return list(CLASSNAMES)

    def _read_split(self, domain: str, split: str) -> list[Datum]:
        path = self.require_file(os.path.join(self.dataset_root, "splits", f"{domain}_{split}_kfold.txt"),
                                 f"the {split} list of {domain}")
        image_dir = os.path.join(self.dataset_root, "images")
        data = []
        for n, rel, label in read_numbered_image_list(path):
            if rel in BAD_IMAGES:
                self.left_out += 1
                continue
            folder = rel.split("/")[-2] if rel.count("/") >= 2 else ""
            if folder not in CLASSNAMES:
                raise ValueError(f"{path}:{n}: '{rel}' is not in a class folder <domain>/<class>/<image>; PACS "
                                 f"classes: {', '.join(CLASSNAMES)}")
            if not 1 <= label <= len(CLASSNAMES):
                raise ValueError(f"{path}:{n}: '{rel}' has label {label}; PACS labels are 1-7 in the order "
                                 f"{', '.join(CLASSNAMES)}")
            used = CLASSNAMES.index(folder) + 1  # the lists number the classes 1-7
            if label != used:  # a slip in the list: the folder says what the image is
                self.relabelled.append(Relabelled(path, n, label, used, folder))
            data.append(Datum(os.path.join(image_dir, rel), used - 1, domain))
        return self.check_images_exist(data, path)

    def prepare(self) -> None:
        super().prepare()
        self.left_out = 0  # listed images skipped as BAD_IMAGES

    def load_domain(self, domain: str) -> DomainSplits:
        self.require_dir(os.path.join(self.dataset_root, "images", domain), f"the {domain} images")
        return DomainSplits(self._read_split(domain, "train"), self._read_split(domain, "crossval"))

    def count_images(self) -> dict[str, int]:
        # the published counts include the listed image that is left out of training
        counts = super().count_images()
        counts["sketch"] += self.left_out
        return counts
