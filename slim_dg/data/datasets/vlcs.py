"""``vlcs``: VLCS (Torralba & Efros, CVPR 2011; DG version of Li et al. 2017), 4 domains, 5 classes.

Layout (the archive Dassl and JiGen distribute)::

    VLCS/<DOMAIN>/{train,crossval,test}/<class>/<image>.jpg     DOMAIN: CALTECH LABELME PASCAL SUN

Follows Dassl's protocol for VLCS: sources train on ``train`` and validate on ``crossval``; a
target domain is tested on its ``test`` folder (not on the whole domain, unlike PACS;
``DATASET.TARGET_SPLIT all``: on all three folders).
"""
from __future__ import annotations

import os

from ..build import DATASET_REGISTRY
from ..download.sources import Source, gdrive
from .base import DomainSplits
from .downloadable import DownloadableDataset
from .folder import list_classes

DOMAINS = ("caltech", "labelme", "pascal", "sun")
CLASSNAMES = ("bird", "car", "chair", "dog", "person")  # shown until the class folders are read
SPLITS = ("train", "crossval", "test")


@DATASET_REGISTRY.register(name="vlcs")
class VLCS(DownloadableDataset):
    """Caltech101, LabelMe, PASCAL VOC2007, SUN09; 5 classes; 10,729 images."""

    name = "vlcs"
    domains = DOMAINS
    dataset_dir = "VLCS"
    homepage = "https://github.com/fmcarlucci/JigenDG#vlcs"
    # Dassl's Google Drive copy (credited to JiGen); no checksum published: counts are verified
    sources = (Source("vlcs.zip", (gdrive("1r0WL5DDqKfSPp9E3tRENwHaXNs1olLZd"),), (("VLCS", "VLCS"),)),)
    # per-domain totals as reported for VLCS (Fang et al. 2013 via DomainBed's 10,729); train+crossval+test
    expected_counts = {"caltech": 1415, "labelme": 2656, "pascal": 3376, "sun": 3282}

    def prepare(self) -> None:
        super().prepare()
        self._classes: list[str] = []

    @property
    def classnames(self) -> list[str]:
        return self._classes or list(CLASSNAMES)

    def _read(self, domain: str, split: str):
        # labels are the sorted class-folder order (as in Dassl); every split must have the same 5
        split_dir = self.require_dir(os.path.join(self.dataset_root, domain.upper(), split),
                                     f"{len(CLASSNAMES)} class folders")
        found = list_classes(split_dir)
        expected = self._classes or found
        if len(found) != len(CLASSNAMES) or found != expected:
            raise self.missing(split_dir, f"the {len(CLASSNAMES)} class folders {expected if self._classes else ''}"
                                          f"(found {found})")
        self._classes = found
        return self.read_class_folders(split_dir, found, domain)

    def load_domain(self, domain: str) -> DomainSplits:
        if self.tests_on_test_list(domain):
            return DomainSplits(self._read(domain, "test"), [])
        if domain in self.target_domains:
            return DomainSplits(self._read(domain, "train") + self._read(domain, "crossval"),
                                self._read(domain, "test"))
        return DomainSplits(self._read(domain, "train"), self._read(domain, "crossval"))

    def count_images(self) -> dict[str, int]:
        return {d: sum(len(self._read(d, s)) for s in SPLITS) for d in self.domains}
