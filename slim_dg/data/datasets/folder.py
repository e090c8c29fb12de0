"""Reading ``<dataset_root>/<domain>/<class>/<image>`` trees, the layout most DG datasets ship in.

The train/val split of a domain is decided per file by a hash of its path relative to the
dataset root, so it is stable across runs, seeds, machines and file-system listing order.
"""
from __future__ import annotations

import hashlib
import os

from .base import Datum, DatasetMissingError, DomainSplits

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def _in_val(relpath: str, val_ratio: float) -> bool:
    h = int.from_bytes(hashlib.md5(relpath.replace(os.sep, "/").encode()).digest()[:8], "big")
    return h / 2**64 < val_ratio


def list_classes(domain_dir: str) -> list[str]:
    return sorted(e.name for e in os.scandir(domain_dir) if e.is_dir() and not e.name.startswith("."))


def read_domain_folder(dataset_root: str, domain: str, classnames: list[str], val_ratio: float) -> DomainSplits:
    domain_dir = os.path.join(dataset_root, domain)
    if not os.path.isdir(domain_dir):
        raise DatasetMissingError(f"Domain folder missing: {domain_dir} (expected <domain>/<class>/<images>)")
    train, val = [], []
    for label, cname in enumerate(classnames):
        cdir = os.path.join(domain_dir, cname)
        if not os.path.isdir(cdir):
            continue  # a domain may lack a class; a wholly empty domain is caught below
        for fname in sorted(os.listdir(cdir)):
            if not fname.lower().endswith(IMAGE_EXTENSIONS):
                continue
            path = os.path.join(cdir, fname)
            datum = Datum(path, label, domain)
            (val if _in_val(os.path.relpath(path, dataset_root), val_ratio) else train).append(datum)
    if not train and not val:
        raise DatasetMissingError(f"No images under {domain_dir} (extensions: {', '.join(IMAGE_EXTENSIONS)})")
    return DomainSplits(train, val)
