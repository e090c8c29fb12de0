"""The base of datasets that live under ``DATASET.ROOT`` and that ``tools/download.py`` installs.

It adds to ``DGDataset``: the registry ``name`` (quoted in the download command), the ``sources``
to fetch, the published per-domain image counts that ``--verify`` checks, and helpers that turn
anything missing on disk into a ``DatasetMissingError`` naming the path and what was expected.
"""
from __future__ import annotations

import os
from typing import ClassVar

from ..download.install import download_command, install_sources
from ..download.sources import Source
from .base import DatasetMissingError, Datum, DGDataset
from .folder import list_images


class FileIndex:
    """Answers "does this file exist?" by listing each directory once: one ``stat`` per image would
    take minutes for DomainNet's 586k images on a network file system."""

    def __init__(self) -> None:
        self._dirs: dict[str, set[str]] = {}

    def exists(self, path: str) -> bool:
        folder, name = os.path.split(path)
        if folder not in self._dirs:
            try:
                self._dirs[folder] = set(os.listdir(folder))
            except (FileNotFoundError, NotADirectoryError):
                self._dirs[folder] = set()
        return name in self._dirs[folder]


class DownloadableDataset(DGDataset):
    #: registry name (``DATASET.NAME``); ``tools/download.py --dataset`` takes the same
    name: ClassVar[str] = ""
    #: what ``tools/download.py`` fetches (URLs, checksums, where each part goes)
    sources: ClassVar[tuple[Source, ...]] = ()
    homepage: ClassVar[str] = ""
    #: published image count per domain, checked by ``--verify`` (empty: none published)
    expected_counts: ClassVar[dict[str, int]] = {}
    #: True on instances made by ``open``: no run, so no source/target domains to check
    inspecting: bool = False

    # -- opening -----------------------------------------------------------------------------
    @classmethod
    def open(cls, root: str, val_ratio: float = 0.1) -> "DownloadableDataset":
        """An instance with paths set and ``prepare`` done but no split loaded, for ``--verify``.
        (``DGDataset.__init__`` would load the splits of chosen source and target domains.)"""
        ds = cls.__new__(cls)
        ds.root = os.path.abspath(os.path.expanduser(root))
        ds.dataset_root = os.path.join(ds.root, cls.dataset_dir)
        ds.source_domains, ds.target_domains, ds.val_ratio, ds.class_map = [], [], val_ratio, {}
        ds.inspecting = True
        ds.prepare()
        return ds

    def prepare(self) -> None:
        if not os.path.isdir(self.dataset_root):
            raise DatasetMissingError(f"{self.name}: {self.dataset_root} does not exist. Download it with:\n  "
                                      f"{download_command(self.name, self.root)}")

    def missing(self, path: str, expected: str) -> DatasetMissingError:
        return DatasetMissingError(
            f"{self.name} is incomplete: {path} is missing (expected {expected}). Re-run "
            f"`{download_command(self.name, self.root)}` or compare with the layout in datasets/README.md.")

    def require_dir(self, path: str, expected: str) -> str:
        if not os.path.isdir(path):
            raise self.missing(path, expected)
        return path

    def require_file(self, path: str, expected: str) -> str:
        if not os.path.isfile(path):
            raise self.missing(path, expected)
        return path

    def check_images_exist(self, data: list[Datum], listed_in: str) -> list[Datum]:
        index = FileIndex()
        absent = [d.impath for d in data if not index.exists(d.impath)]
        if absent:
            more = f" and {len(absent) - 3} more" if len(absent) > 3 else ""
            raise DatasetMissingError(
                f"{self.name} is incomplete: {len(absent)} image(s) listed in {listed_in} are missing, e.g. "
                f"{', '.join(absent[:3])}{more}. Re-run `{download_command(self.name, self.root)}`.")
        return data

    def read_class_folders(self, split_dir: str, classnames: list[str], domain: str) -> list[Datum]:
        """``<split_dir>/<class>/<image>`` for the given classes (label = index in ``classnames``)."""
        self.require_dir(split_dir, f"one folder per class ({', '.join(classnames)})")
        data = []
        for label, cname in enumerate(classnames):
            cdir = self.require_dir(os.path.join(split_dir, cname), f"the images of class {cname}")
            data += [Datum(path, label, domain) for path in list_images(cdir)[0]]
        return data

    # -- download and verification -------------------------------------------------------------
    @classmethod
    def download(cls, root: str, sources: tuple[Source, ...] | None = None, **kwargs) -> None:
        """Install every missing source under ``root`` (``sources`` overrides the declared table)."""
        install_sources(cls.name, root, cls.sources if sources is None else sources, cls.homepage, **kwargs)

    def count_images(self) -> dict[str, int]:
        """Images per domain as this loader reads them (raises if anything listed is missing)."""
        return {d: len(self.load_domain(d).all) for d in self.domains}


def read_image_list(path: str) -> list[tuple[str, int]]:
    """The ``<relative/path> <label>`` lines of a split file (PACS, DomainNet, ...)."""
    items = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            parts = line.rsplit(maxsplit=1)
            if len(parts) != 2 or not parts[1].isdigit():
                raise ValueError(f"{path}:{n}: expected '<relative/path> <label>', got {line!r}")
            items.append((parts[0], int(parts[1])))
    return items
