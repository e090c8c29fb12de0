"""``image_folder``: any DG dataset laid out as ``DATASET.ROOT/<DATASET.IMAGE_FOLDER>/<domain>/<class>/<image>``.

Domains are the sub-folders, classes the union of the class folders of all domains (sorted, so
labels do not depend on which domains a run uses). Each domain's images are split into train and
validation by ``DATASET.VAL_RATIO`` with a permutation seeded by ``SEED`` and the domain name.
"""
from __future__ import annotations

import os
import zlib

import numpy as np

from ..build import DATASET_REGISTRY
from .base import Datum, DatasetMissingError, DGDataset, DomainSplits
from .folder import IMAGE_EXTENSIONS, list_classes

CONFIG_KEY = "DATASET.IMAGE_FOLDER"


def discover_domains(folder: str) -> tuple[str, ...]:
    """Sub-folders of ``folder`` that hold at least one class folder."""
    if not os.path.isdir(folder):
        return ()
    return tuple(d for d in list_classes(folder) if list_classes(os.path.join(folder, d)))


@DATASET_REGISTRY.register(name="image_folder")
class ImageFolderDG(DGDataset):
    """Your own ``<domain>/<class>/<image>`` tree (extensions: see ``folder.IMAGE_EXTENSIONS``)."""

    domains = ()  # discovered per instance

    def __init__(self, root: str, source_domains: list[str], target_domains: list[str], val_ratio: float = 0.1,
                 folder: str = "", seed: int = 1):
        if not folder:
            raise ValueError(f"DATASET.NAME image_folder needs {CONFIG_KEY}: the folder under DATASET.ROOT "
                             "that holds <domain>/<class>/<images>")
        self.dataset_dir = folder
        self.seed = seed
        super().__init__(root, source_domains, target_domains, val_ratio)

    @classmethod
    def _folder(cls, cfg) -> str:
        return cfg.DATASET.get("IMAGE_FOLDER", "")

    @classmethod
    def from_config(cls, cfg) -> "ImageFolderDG":
        return cls(cfg.DATASET.ROOT, cfg.DATASET.SOURCE_DOMAINS, cfg.DATASET.TARGET_DOMAINS, cfg.DATASET.VAL_RATIO,
                   folder=cls._folder(cfg), seed=cfg.SEED)

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
        self._classes = sorted({c for d in self.domains for c in list_classes(os.path.join(self.dataset_root, d))})

    @property
    def classnames(self) -> list[str]:
        return list(self._classes)

    def load_domain(self, domain: str) -> DomainSplits:
        data = []
        for label, cname in enumerate(self._classes):
            cdir = os.path.join(self.dataset_root, domain, cname)
            if os.path.isdir(cdir):  # a domain may lack a class
                data += [Datum(os.path.join(cdir, f), label, domain) for f in sorted(os.listdir(cdir))
                         if f.lower().endswith(IMAGE_EXTENSIONS)]
        if not data:
            raise DatasetMissingError(f"image_folder: no images under {os.path.join(self.dataset_root, domain)} "
                                      f"(extensions: {', '.join(IMAGE_EXTENSIONS)})")
        # a permutation per (seed, domain): the split does not change when other domains are added
        rng = np.random.default_rng([self.seed, zlib.crc32(domain.encode())])
        order = rng.permutation(len(data))
        n_val = int(round(self.val_ratio * len(data)))
        val_idx = set(order[:n_val].tolist())
        return DomainSplits([x for i, x in enumerate(data) if i not in val_idx],
                            [x for i, x in enumerate(data) if i in val_idx])
