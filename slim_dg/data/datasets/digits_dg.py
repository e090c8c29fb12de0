"""``digits_dg``: a small four-domain digits benchmark built offline from scikit-learn's data.

The 1,797 8x8 digits of ``sklearn.datasets.load_digits`` are split by a fixed-seed permutation
into four disjoint, near-equal parts, one per domain, and rendered at 32x32 RGB:

* ``mono``: a white digit on black;
* ``inverse``: a black digit on white;
* ``color``: random foreground and background colours of clearly different luminance;
* ``texture``: the digit blended over a crop of one of scikit-learn's sample photographs, in a
  colour that contrasts with the crop (the hardest domain).

Generation needs no download and is fully deterministic (a constant seed, never the run seed).
The first use writes ``<DATASET.ROOT>/digits_dg/<domain>/<class>/<index>.png`` (``index`` is the
source digit) into a temporary sibling folder that is renamed into place only when complete;
afterwards the images are read like those of any other image-folder dataset.
"""
from __future__ import annotations

import logging
import os
import time

import numpy as np
from PIL import Image

from ...utils.files import directory_built_in_place
from ..build import DATASET_REGISTRY
from .base import DGDataset, DomainSplits
from .folder import read_domain_folder

logger = logging.getLogger("slim_dg.data")

DOMAINS = ("mono", "inverse", "color", "texture")
CLASSNAMES = tuple(str(i) for i in range(10))
SEED = 20_170_901  # fixed: the dataset must not change with the run seed
IMAGE_SIZE = 32
DIGIT_SIZE = 24  # the 8x8 digit is upsampled to this and placed at a random offset
TEXTURE_ALPHA = 0.85  # opacity of the digit over the photograph
TEXTURE_DOWNSCALE = 4  # photos are shrunk first so a 32x32 crop still shows structure
MIN_COLOR_CONTRAST = 0.3  # least luminance difference between foreground and background


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., :3] @ np.array([0.299, 0.587, 0.114])


def domain_source_indices(num_digits: int = 1797) -> dict[str, np.ndarray]:
    """The (sorted, pairwise disjoint) indices into ``load_digits()`` that each domain renders."""
    perm = np.random.default_rng(SEED).permutation(num_digits)
    return {d: np.sort(part) for d, part in zip(DOMAINS, np.array_split(perm, len(DOMAINS)))}


def _digit_mask(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The 8x8 digit (0..16) as a smooth 32x32 coverage mask in [0, 1] at a random offset."""
    small = Image.fromarray(np.rint(digit * (255 / 16)).astype(np.uint8))
    big = np.asarray(small.resize((DIGIT_SIZE, DIGIT_SIZE), Image.BICUBIC), dtype=np.float64) / 255
    oy, ox = rng.integers(0, IMAGE_SIZE - DIGIT_SIZE + 1, size=2)
    mask = np.zeros((IMAGE_SIZE, IMAGE_SIZE))
    mask[oy:oy + DIGIT_SIZE, ox:ox + DIGIT_SIZE] = big
    return mask


def _contrasting_colors(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    while True:
        fg, bg = rng.random(3), rng.random(3)
        if abs(_luminance(fg) - _luminance(bg)) > MIN_COLOR_CONTRAST:
            return fg, bg


def _load_textures() -> list[np.ndarray]:
    from sklearn.datasets import load_sample_images

    textures = []
    for photo in load_sample_images().images:  # china.jpg and flower.jpg, 427x640
        h, w = photo.shape[:2]
        small = Image.fromarray(photo).resize((w // TEXTURE_DOWNSCALE, h // TEXTURE_DOWNSCALE), Image.BOX)
        textures.append(np.asarray(small, dtype=np.float64) / 255)
    return textures


def _render(domain: str, mask: np.ndarray, rng: np.random.Generator, textures: list[np.ndarray]) -> np.ndarray:
    """One 32x32x3 uint8 image of ``domain`` from a coverage mask."""
    m = mask[..., None]
    if domain == "mono":
        img = np.repeat(m, 3, axis=2)
    elif domain == "inverse":
        img = np.repeat(1 - m, 3, axis=2)
    elif domain == "color":
        fg, bg = _contrasting_colors(rng)
        img = bg * (1 - m) + fg * m
    elif domain == "texture":
        photo = textures[rng.integers(len(textures))]
        y = rng.integers(photo.shape[0] - IMAGE_SIZE + 1)
        x = rng.integers(photo.shape[1] - IMAGE_SIZE + 1)
        crop = photo[y:y + IMAGE_SIZE, x:x + IMAGE_SIZE]
        # light digit where the crop under it is dark, dark where it is light, with a random tint
        dark = (_luminance(crop) * mask).sum() / max(mask.sum(), 1e-6) >= 0.5
        color = rng.uniform(0.0, 0.25, 3) if dark else rng.uniform(0.75, 1.0, 3)
        a = TEXTURE_ALPHA * m
        img = crop * (1 - a) + a * color
    else:
        raise ValueError(f"Unknown digits_dg domain '{domain}'; expected one of {DOMAINS}")
    return np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)


def _write_domain(out_dir: str, domain: str, images: np.ndarray, labels: np.ndarray,
                  indices: np.ndarray, textures: list[np.ndarray]) -> None:
    rng = np.random.default_rng([SEED, DOMAINS.index(domain)])  # independent stream per domain
    for cname in CLASSNAMES:
        os.makedirs(os.path.join(out_dir, domain, cname))
    for i in indices:
        img = _render(domain, _digit_mask(images[i], rng), rng, textures)
        Image.fromarray(img).save(os.path.join(out_dir, domain, CLASSNAMES[labels[i]], f"{i:04d}.png"))


def generate_digits_dg(path: str) -> None:
    """Write the whole ``<domain>/<class>/<index>.png`` tree to ``path`` (which must not exist).

    The tree is built in a temporary sibling folder and renamed to ``path`` only when complete.
    """
    from sklearn.datasets import load_digits

    path = os.path.abspath(path)
    if os.path.exists(path):
        raise FileExistsError(f"{path} already exists; remove it to regenerate digits_dg")
    start = time.perf_counter()
    logger.info("Generating the digits_dg dataset at %s (one-off)", path)
    with directory_built_in_place(path) as tmp:
        digits = load_digits()
        textures = _load_textures()
        for domain, indices in domain_source_indices(len(digits.target)).items():
            _write_domain(tmp, domain, digits.images, digits.target, indices, textures)
    logger.debug("digits_dg generated in %.1fs", time.perf_counter() - start)


@DATASET_REGISTRY.register(name="digits_dg")
class DigitsDG(DGDataset):
    """Four synthetic digit domains (mono, inverse, color, texture), generated on first use."""

    domains = DOMAINS
    dataset_dir = "digits_dg"
    supports_class_map = True

    @property
    def classnames(self) -> list[str]:
        return list(CLASSNAMES)

    def prepare(self) -> None:
        if not os.path.isdir(self.dataset_root):
            generate_digits_dg(self.dataset_root)

    def load_domain(self, domain: str) -> DomainSplits:
        return read_domain_folder(self.dataset_root, domain, self.classnames, self.val_ratio,
                                  self.class_map.get(domain))
