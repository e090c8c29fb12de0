"""WILDS datasets (Koh et al., ICML 2021) as DG datasets, through the ``wilds`` package.

``wilds`` downloads the data and defines the official splits and the metadata; this module maps
them onto per-domain reporting: each value of the dataset's domain field (hospital, camera
location, ...) is one domain. A source domain must be a training domain of the official split and
trains on its ``train`` rows, validating on its ``id_val`` rows; a target domain must be one of the
official out-of-distribution domains (``val`` or ``test``) and is tested on all its rows. Images
are read from disk by path, as for every other dataset.
"""
from __future__ import annotations

import functools
import importlib
import logging
import os
from typing import ClassVar

import numpy as np

from ..download.install import DownloadError, download_command
from .base import Datum, DatasetMissingError, DomainSplits
from .downloadable import DownloadableDataset

logger = logging.getLogger("slim_dg.data")
OOD_SPLITS = ("val", "test")


def wilds_class(path: str):
    """The ``wilds`` dataset class at ``module.Class`` (for its version, URL and size)."""
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


@functools.lru_cache(maxsize=4)
def read_official_split(wilds_name: str, version: str, root: str, field: str, prefix: str, image_subdir: str) -> dict:
    """Per row: official split name, domain name, label and image path, as ``wilds`` defines them
    (cached: config validation and the dataset both need it, and iWildCam's metadata is large)."""
    from wilds import get_dataset

    ds = get_dataset(dataset=wilds_name, version=version, root_dir=root, download=False)
    split_of = {v: k for k, v in ds.split_dict.items()}
    image_dir = os.path.join(str(ds.data_dir), image_subdir)
    return {
        "split": np.array([split_of[int(s)] for s in np.asarray(ds.split_array)]),
        "domain": np.array([f"{prefix}{int(v)}" for v in np.asarray(ds.metadata_array[:, ds.metadata_fields.index(field)])]),
        "y": np.asarray(ds.y_array).astype(int),
        # wilds keeps the file names only in this attribute (its get_input opens the image itself)
        "path": [os.path.join(image_dir, str(p)) for p in ds._input_array],
        "n_classes": int(ds.n_classes),
    }


class WildsDGDataset(DownloadableDataset):
    #: name for ``wilds.get_dataset``, its class, and the release we read (a test checks it is wilds' latest)
    wilds_name: ClassVar[str] = ""
    wilds_class_path: ClassVar[str] = ""
    version: ClassVar[str] = ""
    #: metadata field whose values are the domains, and the prefix of their names
    domain_field: ClassVar[str] = ""
    domain_prefix: ClassVar[str] = ""
    #: folder under the WILDS data dir that the metadata's file names are relative to
    image_subdir: ClassVar[str] = ""
    #: how ``--verify`` groups its counts: "domain" or "split" (the official split names)
    count_by: ClassVar[str] = "domain"
    # the official split fixes which images a target domain is tested on, whatever classes they show
    targets_may_have_unseen_classes = True

    # -- reading the official split ----------------------------------------------------------------
    def prepare(self) -> None:
        release = os.path.join(self.dataset_root, f"RELEASE_v{self.version}.txt")
        if not os.path.isfile(release):
            raise DatasetMissingError(f"{self.name}: {release} does not exist (WILDS marks a complete download "
                                      f"with it). Download it with:\n  {download_command(self.name, self.root)}")
        rows = read_official_split(self.wilds_name, self.version, self.root, self.domain_field, self.domain_prefix,
                                   self.image_subdir)
        self._split, self._domain, self._y, self._paths = rows["split"], rows["domain"], rows["y"], rows["path"]
        self._n_classes = rows["n_classes"]
        if not type(self).domains:
            self.domains = tuple(sorted(set(self._domain), key=lambda d: int(d[len(self.domain_prefix):])))
        train_domains = set(self._domain[self._split == "train"])
        self.train_domains = [d for d in self.domains if d in train_domains]
        self.ood_domains = [d for d in self.domains if d not in train_domains]
        self._check_roles()

    # -- config validation hooks (slim_dg/config/validate.py) ---------------------------------------------
    @classmethod
    def _opened_for(cls, cfg):
        try:
            return cls.open(cfg.DATASET.ROOT)
        except DatasetMissingError:
            return None  # not on disk yet: building the dataset reports it with the download command

    @classmethod
    def domains_from_config(cls, cfg) -> tuple[str, ...]:
        ds = cls._opened_for(cfg) if not cls.domains else None
        return ds.domains if ds is not None else cls.domains

    @classmethod
    def default_domains(cls, cfg) -> tuple[list[str], list[str]]:
        """The official roles: every training domain as a source, the official test domains as targets."""
        ds = cls._opened_for(cfg)
        if ds is None:
            return [], []
        return list(ds.train_domains), sorted(set(ds._domain[ds._split == "test"]), key=ds.domains.index)

    def _check_roles(self) -> None:
        if self.inspecting:
            return
        if not self.source_domains:  # LODO default: every official training domain
            self.source_domains = list(self.train_domains)
        if not self.target_domains:  # default: the official test domains
            self.target_domains = sorted(set(self._domain[self._split == "test"]), key=self.domains.index)
        for d in self.source_domains + self.target_domains:
            if d not in self.domains:
                raise DatasetMissingError(f"{self.name}: unknown domain '{d}'. Domains: {', '.join(self.domains)}")
        bad_src = [d for d in self.source_domains if d not in self.train_domains]
        bad_tgt = [d for d in self.target_domains if d not in self.ood_domains]
        if bad_src or bad_tgt:
            raise ValueError(
                f"{self.name} follows WILDS' official split: source domains must be training domains "
                f"({', '.join(self.train_domains)}) and target domains out-of-distribution ones "
                f"({', '.join(self.ood_domains)}); not allowed here: {', '.join(bad_src + bad_tgt)}")

    @property
    def classnames(self) -> list[str]:
        return [str(i) for i in range(self._n_classes)]

    def _rows(self, domain: str, splits: tuple[str, ...]) -> list[Datum]:
        idx = np.flatnonzero((self._domain == domain) & np.isin(self._split, splits))
        return [Datum(self._paths[i], int(self._y[i]), domain) for i in idx]

    def load_domain(self, domain: str) -> DomainSplits:
        if domain in self.ood_domains:
            splits = DomainSplits(self._rows(domain, OOD_SPLITS), [])
        else:
            splits = DomainSplits(self._rows(domain, ("train",)), self._rows(domain, ("id_val",)))
        self.check_images_exist(splits.all, os.path.join(self.dataset_root, "metadata.csv"))
        return splits

    def count_images(self) -> dict[str, int]:
        for d in self.domains:  # every listed image must be on disk
            self.check_images_exist(self._rows(d, tuple(set(self._split))), "metadata.csv")
        keys = self._domain if self.count_by == "domain" else self._split
        names, counts = np.unique(keys, return_counts=True)
        return {str(n): int(c) for n, c in zip(names, counts)}

    # -- download through wilds ----------------------------------------------------------------------
    @classmethod
    def download(cls, root: str, sources=None, **kwargs) -> None:
        from wilds import get_dataset

        root = os.path.abspath(os.path.expanduser(root))
        data_dir = os.path.join(root, cls.dataset_dir)
        release = os.path.join(data_dir, f"RELEASE_v{cls.version}.txt")
        if os.path.isfile(release):
            logger.info("%s: %s already in place", cls.name, data_dir)
            return
        info = wilds_class(cls.wilds_class_path)._versions_dict[cls.version]  # a class-level table in wilds
        try:
            get_dataset(dataset=cls.wilds_name, version=cls.version, root_dir=root, download=True)
        except Exception as e:  # wilds reports most failures by printing; the check below catches those
            logger.warning("wilds.get_dataset failed: %s", e)
        if not os.path.isfile(release):
            size = f"{info['compressed_size'] / 2**30:.1f} GiB" if info.get("compressed_size") else "size unknown"
            raise DownloadError(
                f"{cls.name}: the WILDS download did not complete (is this machine offline?).\n"
                f"To install it by hand:\n"
                f"  1. download {info['download_url']} ({size}; also linked from https://wilds.stanford.edu/downloads)\n"
                f"  2. extract it into {data_dir}/ so that {release} exists\n"
                f"  3. check: {download_command(cls.name, root, verify=True)}")
