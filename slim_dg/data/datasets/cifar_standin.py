"""A small generated stand-in for CIFAR-10/100 in torchvision's on-disk format, for offline tests
and demonstrations: ``python -m slim_dg.data.datasets.cifar_standin --root DIR [--name cifar10]``.

It writes ``DIR/<name>/<batches folder>`` exactly as torchvision's download leaves it (pickled
batches and meta with the real class names), plus a ``STANDIN.txt`` marker that the dataset
reports with a warning, so the code path from the pickles on is the real one. The images are
scikit-learn's 8x8 digits drawn at 32x32 in random, contrasting colours over noise; the label is
the digit (CIFAR-100: the digit plus 10 times a colour bucket of the background), so a model can
learn it. Fully determined by ``seed``; the real MD5s are not (and cannot be) matched.
"""
from __future__ import annotations

import argparse
import os
import pickle

import numpy as np
from PIL import Image

from .cifar import CIFAR10, CIFAR100, STANDIN_MARKER

KINDS = {"cifar10": CIFAR10, "cifar100": CIFAR100}
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def render_digits(n: int, num_classes: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images (N, 32, 32, 3) uint8 and labels in ``[0, num_classes)``."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    pick = rng.integers(len(digits.target), size=n)
    images = np.empty((n, 32, 32, 3), dtype=np.uint8)
    labels = np.empty(n, dtype=np.int64)
    for k, i in enumerate(pick):
        size = int(rng.integers(20, 29))
        mask = np.asarray(Image.fromarray(np.uint8(digits.images[i] * 255 / 16)).resize((size, size), Image.BICUBIC),
                          dtype=np.float64)[..., None] / 255
        bucket = int(rng.integers(max(1, num_classes // 10)))
        bg = rng.uniform(0.0, 0.45, 3) + 0.5 * (bucket % 2)  # CIFAR-100: the background's brightness bucket
        fg = 1.0 - bg + rng.uniform(-0.1, 0.1, 3)
        img = bg + rng.normal(0, 0.06, (32, 32, 3))
        oy, ox = rng.integers(0, 33 - size, size=2)
        img[oy:oy + size, ox:ox + size] = img[oy:oy + size, ox:ox + size] * (1 - mask) + fg * mask
        images[k] = np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)
        labels[k] = (digits.target[i] + 10 * bucket) % num_classes
    return images, labels


def _dump(path: str, obj: dict) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def write_standin(root: str, name: str = "cifar10", num_train: int = 1000, num_test: int = 200, seed: int = 0) -> str:
    """Write the stand-in of ``name`` under ``root`` (a ``DATASET.ROOT``); returns its batches folder."""
    cls = KINDS[name]
    folder = os.path.join(root, cls.dataset_dir, cls.batches_dir)
    os.makedirs(folder, exist_ok=False)
    rng = np.random.default_rng(seed)
    num_classes = 10 if name == "cifar10" else 100
    classnames = CIFAR10_CLASSES if name == "cifar10" else [f"class_{i:02d}" for i in range(100)]
    train, test = render_digits(num_train, num_classes, rng), render_digits(num_test, num_classes, rng)
    for files, (images, labels) in ((cls.train_files, train), (cls.test_files, test)):
        for part, idx in zip(files, np.array_split(np.arange(len(labels)), len(files))):
            _dump(os.path.join(folder, part), {
                "batch_label": f"stand-in {part}",
                "data": images[idx].transpose(0, 3, 1, 2).reshape(len(idx), -1),  # CIFAR's row layout
                cls.label_key: labels[idx].tolist(),
                "filenames": [f"standin_{i:05d}.png" for i in idx]})
    _dump(os.path.join(folder, cls.meta_file), {cls.names_key: classnames})
    with open(os.path.join(folder, STANDIN_MARKER), "w") as f:
        f.write(f"Generated stand-in for {name} (slim_dg.data.datasets.cifar_standin, seed {seed}): "
                f"{num_train} training and {num_test} test images of rendered digits. Not {name}.\n")
    return folder


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", required=True, help="DATASET.ROOT to write into")
    p.add_argument("--name", default="cifar10", choices=sorted(KINDS))
    p.add_argument("--num-train", type=int, default=1000)
    p.add_argument("--num-test", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    print(write_standin(a.root, a.name, a.num_train, a.num_test, a.seed))


if __name__ == "__main__":
    main()
