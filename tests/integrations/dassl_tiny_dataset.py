"""A tiny DG dataset for the Dassl integration tests: 3 domains x 2 classes of generated images,
as a Dassl ``DatasetBase`` registered in Dassl's ``DATASET_REGISTRY`` (importing this needs Dassl).
Also usable as a ``--plugin`` of tools/train_dassl.py."""
from __future__ import annotations

import os

import numpy as np
from dassl.data.datasets import DATASET_REGISTRY, DatasetBase, Datum
from PIL import Image

NAME = "SLIMDGTinyDG"
DOMAINS = ("red", "green", "blue")
CLASSES = ("stripes", "blobs")


def generate(root: str, per_class: int = 4, size: int = 20) -> str:
    """<root>/tiny_dg/<domain>/<class>/<i>.png: domain = colour tint, class = pattern."""
    rng = np.random.default_rng(0)
    base = os.path.join(root, "tiny_dg")
    for d, domain in enumerate(DOMAINS):
        for c, cls in enumerate(CLASSES):
            os.makedirs(os.path.join(base, domain, cls), exist_ok=True)
            for i in range(per_class):
                yy, xx = np.mgrid[0:size, 0:size]
                disc = (xx - size / 2) ** 2 + (yy - size / 2) ** 2 < (size / 3) ** 2
                pattern = (xx // 3) % 2 if c == 0 else disc
                img = 0.3 * rng.random((size, size, 3)) + 0.5 * pattern[..., None].astype(float)
                img[..., d] += 0.2
                Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(
                    os.path.join(base, domain, cls, f"{i}.png"))
    return base


class SLIMDGTinyDG(DatasetBase):
    dataset_dir = "tiny_dg"
    domains = list(DOMAINS)

    def __init__(self, cfg):
        self.dataset_dir = os.path.join(os.path.abspath(os.path.expanduser(cfg.DATASET.ROOT)), self.dataset_dir)
        if not os.path.isdir(self.dataset_dir):
            generate(os.path.dirname(self.dataset_dir))
        self.check_input_domains(cfg.DATASET.SOURCE_DOMAINS, cfg.DATASET.TARGET_DOMAINS)
        train = self._read(cfg.DATASET.SOURCE_DOMAINS)
        test = self._read(cfg.DATASET.TARGET_DOMAINS)
        super().__init__(train_x=train, val=test, test=test)

    def _read(self, domains):
        items = []
        for d, domain in enumerate(domains):
            for label, cls in enumerate(CLASSES):
                folder = os.path.join(self.dataset_dir, domain, cls)
                for f in sorted(os.listdir(folder)):
                    items.append(Datum(impath=os.path.join(folder, f), label=label, domain=d, classname=cls))
        return items


DATASET_REGISTRY.register(SLIMDGTinyDG, force=True)


def generate_fake_pacs(root: str, domains=("art_painting", "cartoon", "photo"), classes=("dog", "elephant"),
                       per_class: int = 4) -> str:
    """A PACS-shaped tree that Dassl's own ``PACS`` dataset class reads: <root>/pacs/images/<domain>/
    <class>/*.png and <root>/pacs/splits/<domain>_{train,crossval}_kfold.txt ("path label", 1-based)."""
    tiny = generate(os.path.join(root, "_tiny"), per_class=per_class)
    pacs = os.path.join(root, "pacs")
    os.makedirs(os.path.join(pacs, "splits"), exist_ok=True)
    for domain, colour in zip(domains, DOMAINS):
        lines = {"train": [], "crossval": []}
        for label, (cls, pattern) in enumerate(zip(classes, CLASSES), start=1):
            os.makedirs(os.path.join(pacs, "images", domain, cls), exist_ok=True)
            for i in range(per_class):
                rel = f"{domain}/{cls}/{i}.png"
                os.replace(os.path.join(tiny, colour, pattern, f"{i}.png"), os.path.join(pacs, "images", rel))
                lines["crossval" if i == per_class - 1 else "train"].append(f"{rel} {label}")
        for split, rows in lines.items():
            with open(os.path.join(pacs, "splits", f"{domain}_{split}_kfold.txt"), "w") as f:
                f.write("\n".join(rows) + "\n")
    return pacs
