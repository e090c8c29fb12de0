"""``image_folder``: any DG dataset laid out as ``DATASET.ROOT/<DATASET.IMAGE_FOLDER>/<domain>/<class>/<image>``.

Domains are the sub-folders, classes the union of the class names of all domains (after
``DATASET.CLASS_MAP``; sorted, so labels do not depend on which domains a run uses). Each domain's
images are split into train and validation by ``DATASET.VAL_RATIO`` with a permutation seeded by
``SEED`` and the domain name.
"""
from __future__ import annotations

import logging
import os
import zlib

import numpy as np

from ..build import DATASET_REGISTRY
from .base import Datum, DatasetMissingError, DGDataset, DomainSplits
from .class_map import case_twins, load_class_map
from .folder import DomainFolder, list_classes, scan_domain

CONFIG_KEY = "DATASET.IMAGE_FOLDER"
logger = logging.getLogger("slim_dg.data")


def discover_domains(folder: str) -> tuple[str, ...]:
    """The visible sub-folders of ``folder`` (each must hold class folders; reading it checks)."""
    return tuple(list_classes(folder)) if os.path.isdir(folder) else ()


@DATASET_REGISTRY.register(name="image_folder")
class ImageFolderDG(DGDataset):
    """Your own ``<domain>/<class>/<image>`` tree (extensions: see ``folder.IMAGE_EXTENSIONS``)."""

    domains = ()  # discovered per instance
    supports_class_map = True

    def __init__(self, root: str, source_domains: list[str], target_domains: list[str], val_ratio: float = 0.1,
                 folder: str = "", seed: int = 1, class_map=None):
        if not folder:
            raise ValueError(f"DATASET.NAME image_folder needs {CONFIG_KEY}: the folder under DATASET.ROOT "
                             "that holds <domain>/<class>/<images>")
        self.dataset_dir = folder
        self.seed = seed
        super().__init__(root, source_domains, target_domains, val_ratio, class_map=class_map)

    @classmethod
    def _folder(cls, cfg) -> str:
        return cfg.DATASET.get("IMAGE_FOLDER", "")

    @classmethod
    def from_config(cls, cfg) -> "ImageFolderDG":
        return cls(cfg.DATASET.ROOT, cfg.DATASET.SOURCE_DOMAINS, cfg.DATASET.TARGET_DOMAINS, cfg.DATASET.VAL_RATIO,
                   folder=cls._folder(cfg), seed=cfg.SEED, class_map=load_class_map(cfg.DATASET.CLASS_MAP))

    @classmethod
    def domains_from_config(cls, cfg) -> tuple[str, ...]:
        """For config validation: the domains on disk (none if the folder is not there yet)."""
        folder = cls._folder(cfg)
        return discover_domains(os.path.join(os.path.expanduser(cfg.DATASET.ROOT), folder)) if folder else ()

    def prepare(self) -> None:
        self.domains = discover_domains(self.dataset_root)
        if not self.domains:
            raise DatasetMissingError(f"image_folder: no <domain>/<class>/<images> folders under {self.dataset_root} "
                                      f"(set DATASET.ROOT and {CONFIG_KEY})")
        listing = f"Domains in {self.dataset_root}: {', '.join(self.domains)}"
        unknown = [d for d in self.source_domains + self.target_domains if d not in self.domains]
        if unknown:
            raise DatasetMissingError(f"image_folder: domain folder(s) {unknown} not found. {listing}")
        if not self.target_domains:
            raise ValueError(f"image_folder: no target domain (DATASET.TARGET_DOMAINS). {listing}")
        if not self.source_domains:  # leave-one-domain-out
            self.source_domains = [d for d in self.domains if d not in self.target_domains]
        # every domain is read, used or not: the class list (and so the labels) must not depend on the run
        self._folders: dict[str, DomainFolder] = {
            d: scan_domain(os.path.join(self.dataset_root, d), self.class_map.get(d)) for d in self.domains}
        self._classes = sorted({c for scan in self._folders.values() for c in scan.images})
        for twins in case_twins(self._classes):
            where = {t: [d for d, s in self._folders.items() if t in s.images] for t in twins}
            logger.warning("image_folder: classes %s differ only in case or surrounding spaces, so they are "
                           "different classes; map them onto one name with DATASET.CLASS_MAP (see datasets/README.md)",
                           ", ".join(f"{t!r} ({', '.join(ds)})" for t, ds in where.items()))

    @property
    def classnames(self) -> list[str]:
        return list(self._classes)

    def load_domain(self, domain: str) -> DomainSplits:
        scan = self._folders[domain]
        data = [Datum(path, label, domain) for label, cname in enumerate(self._classes)
                for path in scan.images.get(cname, [])]  # a domain may lack a class
        if not data:
            raise DatasetMissingError(f"image_folder: no images in the class folders of {scan.path}")
        # a permutation per (seed, domain): the split does not change when other domains are added
        rng = np.random.default_rng([self.seed, zlib.crc32(domain.encode())])
        order = rng.permutation(len(data))
        n_val = int(round(self.val_ratio * len(data)))
        val_idx = set(order[:n_val].tolist())
        return DomainSplits([x for i, x in enumerate(data) if i not in val_idx],
                            [x for i, x in enumerate(data) if i in val_idx])
