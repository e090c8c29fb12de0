"""Reading ``<dataset_root>/<domain>/<class>/<image>`` trees, the layout most DG datasets ship in.

Folders as users have them: hidden files (``.DS_Store``, macOS's ``._*`` twins of every image),
notes and other non-image files, and empty class folders are left out with one summary line per
domain; extensions count in any case and symbolic links are followed. ``DATASET.CLASS_MAP``
(``class_map``) renames class folders before labels are given, so that differently named folders
of different domains become one class.

The train/val split of a domain is decided per file by a hash of its path relative to the
dataset root, so it is stable across runs, seeds, machines and file-system listing order.
"""
from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field

from .base import Datum, DatasetMissingError, DomainSplits
from .class_map import check_map_folders

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
logger = logging.getLogger("slim_dg.data")


def _in_val(relpath: str, val_ratio: float) -> bool:
    h = int.from_bytes(hashlib.md5(relpath.replace(os.sep, "/").encode()).digest()[:8], "big")
    return h / 2**64 < val_ratio


def is_image_file(entry: os.DirEntry) -> bool:
    """A visible file (or a link to one) with an image extension, in any case."""
    return not entry.name.startswith(".") and entry.name.lower().endswith(IMAGE_EXTENSIONS) and entry.is_file()


def list_classes(domain_dir: str) -> list[str]:
    return sorted(e.name for e in os.scandir(domain_dir) if e.is_dir() and not e.name.startswith("."))


def list_images(class_dir: str) -> tuple[list[str], list[str]]:
    """The image paths of one class folder, sorted, and the names of the entries left out."""
    images, ignored = [], []
    with os.scandir(class_dir) as entries:
        for e in entries:
            if is_image_file(e):
                images.append(e.path)
            else:
                ignored.append(e.name)
    return sorted(images), ignored


@dataclass
class DomainFolder:
    """One domain's class folders, read: image paths per class (after the class map)."""

    path: str
    images: dict[str, list[str]]  # class name -> sorted image paths (folders mapped onto it merged)
    ignored: list[str] = field(default_factory=list)  # hidden or non-image entries, relative to ``path``
    empty: list[str] = field(default_factory=list)  # class folders without a single image

    def summary(self) -> str | None:
        """One line on what was left out, or None."""
        parts = []
        if self.ignored:
            more = f", ... ({len(self.ignored) - 3} more)" if len(self.ignored) > 3 else ""
            parts.append(f"{len(self.ignored)} hidden or non-image entr{'y' if len(self.ignored) == 1 else 'ies'} "
                         f"({', '.join(sorted(self.ignored)[:3])}{more})")
        if self.empty:
            parts.append(f"{len(self.empty)} empty class folder(s) ({', '.join(self.empty)})")
        return f"{self.path}: ignored {' and '.join(parts)}" if parts else None


def scan_domain(domain_dir: str, class_map: dict[str, str] | None = None) -> DomainFolder:
    """Read ``domain_dir/<class>/<images>``; ``class_map`` renames folders (``{folder: class}``).

    Raises ``DatasetMissingError`` naming the folder when it is missing or has no class folders,
    and ``ValueError`` when the class map names a folder that is not there."""
    if not os.path.isdir(domain_dir):
        raise DatasetMissingError(f"Domain folder missing: {domain_dir} (expected <domain>/<class>/<images>)")
    folders = list_classes(domain_dir)
    if not folders:
        loose = sum(1 for e in os.scandir(domain_dir) if is_image_file(e))
        hint = f"; it holds {loose} image(s) directly: put each class's images in a sub-folder" if loose else ""
        raise DatasetMissingError(f"Domain folder {domain_dir} has no class folders "
                                  f"(expected {domain_dir}/<class>/<images>){hint}")
    class_map = class_map or {}
    check_map_folders(class_map, folders, domain_dir)
    scan = DomainFolder(domain_dir, {})
    scan.ignored = [e.name for e in os.scandir(domain_dir) if not e.is_dir() or e.name.startswith(".")]
    for folder in folders:
        images, ignored = list_images(os.path.join(domain_dir, folder))
        scan.ignored += [os.path.join(folder, name) for name in ignored]
        if not images:
            scan.empty.append(folder)
            continue
        cname = class_map.get(folder, folder)
        scan.images[cname] = sorted(scan.images.get(cname, []) + images)
    line = scan.summary()
    if line:
        logger.info(line)
    return scan


def read_domain_folder(dataset_root: str, domain: str, classnames: list[str], val_ratio: float,
                       class_map: dict[str, str] | None = None) -> DomainSplits:
    """A domain of a dataset with a fixed class list: label = index in ``classnames``.

    Class folders that are none of ``classnames`` (after ``class_map``) are left out and named."""
    domain_dir = os.path.join(dataset_root, domain)
    scan = scan_domain(domain_dir, class_map)
    others = sorted(set(scan.images) - set(classnames))
    if others:
        logger.warning("%s: class folder(s) %s are not classes of this dataset and are left out; rename them "
                       "with DATASET.CLASS_MAP if they are (classes: %s)", domain_dir, ", ".join(others),
                       ", ".join(classnames))
    train, val = [], []
    for label, cname in enumerate(classnames):
        for path in scan.images.get(cname, []):  # a domain may lack a class; a wholly empty domain is caught below
            datum = Datum(path, label, domain)
            (val if _in_val(os.path.relpath(path, dataset_root), val_ratio) else train).append(datum)
    if not train and not val:
        raise DatasetMissingError(f"No images under {domain_dir} (extensions: {', '.join(IMAGE_EXTENSIONS)})")
    return DomainSplits(train, val)
