"""CIFAR-10 and CIFAR-100 (Krizhevsky, 2009) as datasets without domains, for the robustness track.

torchvision downloads them (``python tools/download.py --dataset cifar10 --root ROOT``, which
checks torchvision's MD5s) into ``ROOT/<name>/<batches folder>`` in the original pickled batches.
On first use the pickles are written out once as ``ROOT/<name>/images/<split>/<class>/<index>.png``
(``index``: position in the split), so the images flow through the same loaders, augmentation
and caching as every other dataset. ``DATALOADER.CACHE True`` keeps them decoded in memory.

Splits, reported through the usual results.json: one "domain" ``test`` (the 10,000 test images)
and the validation split ``val``: ``DATASET.VAL_RATIO`` of the 50,000 training images, held out
by a fixed permutation (never the run seed) for best-checkpoint selection (Rice et al., 2020).
The domains are ``train`` and ``test`` and are filled in when the config leaves them empty.
"""
from __future__ import annotations

import logging
import os
import pickle
from typing import ClassVar

import numpy as np
from PIL import Image

from ...utils.files import directory_built_in_place
from ..build import DATASET_REGISTRY
from ..download.install import DownloadError, download_command
from .base import DatasetMissingError, DomainSplits
from .downloadable import DownloadableDataset

logger = logging.getLogger("slim_dg.data")
VAL_SEED = 20_180_101  # fixed: the held-out validation images must not change with the run seed
IMAGES = "images"
STANDIN_MARKER = "STANDIN.txt"  # written by cifar_standin: this is generated data, not CIFAR


def read_batches(folder: str, files: list[str], label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 32, 32, 3) uint8 and labels of torchvision's on-disk CIFAR batches."""
    data, labels = [], []
    for name in files:
        with open(os.path.join(folder, name), "rb") as f:
            entry = pickle.load(f, encoding="latin1")
        data.append(np.asarray(entry["data"], dtype=np.uint8))
        labels.extend(entry[label_key])
    return np.vstack(data).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), np.asarray(labels, dtype=np.int64)


class CIFAR(DownloadableDataset):
    domains = ("train", "test")
    homepage = "https://www.cs.toronto.edu/~kriz/cifar.html"
    #: torchvision's class (for the download), its batches folder, and the pickles' keys and files
    torchvision_class: ClassVar[str] = ""
    batches_dir: ClassVar[str] = ""
    train_files: ClassVar[tuple[str, ...]] = ()
    test_files: ClassVar[tuple[str, ...]] = ()
    meta_file: ClassVar[str] = ""
    label_key: ClassVar[str] = ""
    names_key: ClassVar[str] = ""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.val = {"val": split for split in self.val.values()}  # the held-out part of "train"

    @classmethod
    def default_domains(cls, cfg) -> tuple[list[str], list[str]]:
        return ["train"], ["test"]

    @property
    def batches_path(self) -> str:
        return os.path.join(self.dataset_root, self.batches_dir)

    @property
    def classnames(self) -> list[str]:
        if not hasattr(self, "_classnames"):
            with open(os.path.join(self.batches_path, self.meta_file), "rb") as f:
                self._classnames = list(pickle.load(f, encoding="latin1")[self.names_key])
        return self._classnames

    def prepare(self) -> None:
        for name in (*self.train_files, *self.test_files, self.meta_file):
            if not os.path.isfile(os.path.join(self.batches_path, name)):
                raise DatasetMissingError(
                    f"{self.name}: {os.path.join(self.batches_path, name)} does not exist. Download it with:\n  "
                    f"{download_command(self.name, self.root)}")
        if os.path.isfile(os.path.join(self.batches_path, STANDIN_MARKER)):
            logger.warning("%s under %s is a generated stand-in, not the real %s", self.name, self.root, self.name)
        if not os.path.isdir(os.path.join(self.dataset_root, IMAGES)):
            self._write_images()

    def _write_images(self) -> None:
        """The pickles as PNG files, built in a temporary folder renamed into place when complete."""
        out = os.path.join(self.dataset_root, IMAGES)
        logger.info("Writing %s's images to %s (one-off)", self.name, out)
        with directory_built_in_place(out) as tmp:
            for split, files in (("train", self.train_files), ("test", self.test_files)):
                images, labels = read_batches(self.batches_path, list(files), self.label_key)
                for cname in self.classnames:
                    os.makedirs(os.path.join(tmp, split, cname))
                for i, (img, label) in enumerate(zip(images, labels)):
                    Image.fromarray(img).save(os.path.join(tmp, split, self.classnames[label], f"{i:05d}.png"))

    def load_domain(self, domain: str) -> DomainSplits:
        data = self.read_class_folders(os.path.join(self.dataset_root, IMAGES, domain), self.classnames, domain)
        if domain == "test":
            return DomainSplits(data, [])
        data.sort(key=lambda d: os.path.basename(d.impath))  # by index in the split
        n_val = int(round(self.val_ratio * len(data)))
        held_out = set(np.random.default_rng(VAL_SEED).permutation(len(data))[:n_val].tolist())
        return DomainSplits([d for i, d in enumerate(data) if i not in held_out],
                            [d for i, d in enumerate(data) if i in held_out])

    @classmethod
    def download(cls, root: str, sources=None, timeout: float = 30.0, progress: bool = True,
                 keep_archives: bool = False, **kwargs) -> None:
        """torchvision's download (MD5-checked) into ``root/<name>``, then the PNG export."""
        import torchvision.datasets

        folder = os.path.join(os.path.abspath(os.path.expanduser(root)), cls.dataset_dir)
        tv = getattr(torchvision.datasets, cls.torchvision_class)
        try:
            tv(folder, train=True, download=True)
        except Exception as e:  # URLError, HTTP errors, a corrupt archive: all mean "not installed"
            raise DownloadError(f"{cls.name}: torchvision could not download {tv.url} ({type(e).__name__}: {e}). "
                                f"Download it by hand, unpack it into {folder} (giving {folder}/{cls.batches_dir}), "
                                f"then run: {download_command(cls.name, root)}") from e
        archive = os.path.join(folder, tv.filename)
        if os.path.isfile(archive) and not keep_archives:
            os.remove(archive)
        cls.open(root)  # writes the PNGs

    def count_images(self) -> dict[str, int]:
        return {d: len(self.load_domain(d).all) for d in self.domains}


@DATASET_REGISTRY.register(name="cifar10")
class CIFAR10(CIFAR):
    name = "cifar10"
    dataset_dir = "cifar10"
    torchvision_class = "CIFAR10"
    batches_dir = "cifar-10-batches-py"
    train_files = tuple(f"data_batch_{i}" for i in range(1, 6))
    test_files = ("test_batch",)
    meta_file, label_key, names_key = "batches.meta", "labels", "label_names"
    expected_counts = {"train": 50000, "test": 10000}


@DATASET_REGISTRY.register(name="cifar100")
class CIFAR100(CIFAR):
    name = "cifar100"
    dataset_dir = "cifar100"
    torchvision_class = "CIFAR100"
    batches_dir = "cifar-100-python"
    train_files = ("train",)
    test_files = ("test",)
    meta_file, label_key, names_key = "meta", "fine_labels", "fine_label_names"
    expected_counts = {"train": 50000, "test": 10000}


__all__ = ["CIFAR10", "CIFAR100", "read_batches"]
