"""What every DG dataset provides: its domains, classes and per-domain splits as ``Datum`` lists.

A dataset class declares ``domains`` and implements ``load_domain``; the base turns the chosen
source and target domains into the three views a DG run needs, following Dassl's protocol:
sources are trained on their ``train`` split and validated on their ``val`` split, and every
target domain is tested on its test list where the dataset's protocol has one (DomainNet,
miniDomainNet, VLCS), else on all of its images (``DATASET.TARGET_SPLIT all``: always all of them).
Datasets read from class folders (``supports_class_map``) take ``DATASET.CLASS_MAP``, which renames
class folders per domain.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import ClassVar

from ...errors import InputError
from .class_map import KEY as CLASS_MAP_KEY
from .class_map import ClassMap, check_map_domains, load_class_map
from .relabel import Relabelled, warn_relabelled


@dataclass(frozen=True)
class Datum:
    impath: str
    label: int
    domain: str


@dataclass
class DomainSplits:
    train: list[Datum]
    val: list[Datum]

    @property
    def all(self) -> list[Datum]:
        return self.train + self.val


class DatasetMissingError(InputError, FileNotFoundError):
    """The dataset is not on disk (or incomplete); the message says how to get it."""


class DGDataset:
    #: domain names, in the order used for domain indices
    domains: ClassVar[tuple[str, ...]] = ()
    #: folder under ``DATASET.ROOT``
    dataset_dir: ClassVar[str] = ""
    #: how to obtain the data, quoted when it is missing
    download_hint: ClassVar[str] = ""
    #: whether ``load_domain`` applies ``self.class_map`` (datasets read from class folders)
    supports_class_map: ClassVar[bool] = False
    #: whether the official protocol tests targets on classes the sources lack (else a run stops on them)
    targets_may_have_unseen_classes: ClassVar[bool] = False
    #: ``DATASET.TARGET_SPLIT``: "test" (a target's test list, where the protocol has one) or "all"
    target_split: str = "test"

    def __init__(self, root: str, source_domains: list[str], target_domains: list[str], val_ratio: float = 0.1,
                 target_split: str = "test", class_map: ClassMap | None = None):
        self.root = os.path.abspath(os.path.expanduser(root))
        self.dataset_root = os.path.join(self.root, self.dataset_dir)
        self.source_domains = list(source_domains)
        self.target_domains = list(target_domains)
        self.val_ratio = val_ratio
        self.target_split = target_split
        self.class_map = class_map or {}
        if self.class_map and not self.supports_class_map:
            raise ValueError(f"{CLASS_MAP_KEY} renames class folders, but {type(self).__name__} does not take its "
                             "labels from class folder names (image_folder does); leave it empty")
        self.prepare()
        check_map_domains(self.class_map, self.domains)
        splits = {d: self.load_domain(d) for d in self.source_domains + self.target_domains}
        warn_relabelled(type(self).__name__, self.relabelled)
        self.train_x = [x for d in self.source_domains for x in splits[d].train]
        self.val = {d: splits[d].val for d in self.source_domains if splits[d].val}
        self.test = {d: splits[d].all for d in self.target_domains}
        if not self.train_x:
            raise DatasetMissingError(f"No training images found for source domains {self.source_domains} "
                                      f"under {self.dataset_root}")

    @classmethod
    def from_config(cls, cfg) -> "DGDataset":
        return cls(cfg.DATASET.ROOT, cfg.DATASET.SOURCE_DOMAINS, cfg.DATASET.TARGET_DOMAINS, cfg.DATASET.VAL_RATIO,
                   cfg.DATASET.TARGET_SPLIT, class_map=load_class_map(cfg.DATASET.CLASS_MAP))

    # -- to implement ------------------------------------------------------------------------
    @property
    def classnames(self) -> list[str]:
        raise NotImplementedError

    def load_domain(self, domain: str) -> DomainSplits:
        """A source's train and val images; for a target, ``.all`` is what it is tested on."""
        raise NotImplementedError

    def tests_on_test_list(self, domain: str) -> bool:
        """Whether ``domain`` is a target to be tested on its test list only (``DATASET.TARGET_SPLIT test``)."""
        return domain in self.target_domains and self.target_split == "test"

    def prepare(self) -> None:
        """Make sure the data is on disk (generate it, or fail with ``download_hint``)."""
        if not os.path.isdir(self.dataset_root):
            raise DatasetMissingError(
                f"{type(self).__name__}: {self.dataset_root} does not exist. {self.download_hint}".strip()
            )

    # -- derived -----------------------------------------------------------------------------
    @property
    def relabelled(self) -> list[Relabelled]:
        """Split-list lines whose label was replaced by their class folder's (``relabel``)."""
        return self.__dict__.setdefault("_relabelled", [])

    @property
    def num_classes(self) -> int:
        return len(self.classnames)

    def domain_index(self, domain: str) -> int:
        return self.domains.index(domain)
