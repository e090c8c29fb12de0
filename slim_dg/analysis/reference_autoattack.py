"""AutoAttack as published tables report it: the reference implementation (fra31/auto-attack).

Its standard version (Croce & Hein, ICML 2020) runs APGD-CE and APGD-T with 100 iterations, FAB-T
and Square with 5,000 queries, each on the points the previous ones left correctly classified; the
targeted attacks use the 9 most likely wrong classes (CIFAR-10: all of them; CIFAR-100: 9 of 99).
The reference attacks a model of [0, 1] pixels: ours take normalised batches, so the model is
wrapped with the normalisation inside, and each batch goes to pixels and back.

It is not on PyPI; without it the ``autoattack`` column is refused with ``INSTALL``, never replaced
by another implementation (torchattacks' 10-iteration variant is the separate ``aa_lite`` column).
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import InputError, MissingPackageError

INSTALL = "pip install git+https://github.com/fra31/auto-attack"
TARGET_CLASSES = 9  # the standard version's, for APGD-T and FAB-T
MIN_CLASSES = 4  # APGD-T's targeted DLR loss reads the 3rd and 4th largest logits


def _reference():
    try:
        import autoattack
    except ImportError as e:
        raise MissingPackageError("The autoattack column needs the reference AutoAttack (fra31/auto-attack, "
                                  f"not on PyPI): {INSTALL}") from e
    return autoattack


def require_reference(num_classes: int | None = None) -> None:
    """Raise ``ImportError`` with the install line when the reference AutoAttack is not installed, and
    ``ValueError`` when a model of ``num_classes`` classes is too small for its standard version."""
    _reference()
    if num_classes is not None and num_classes < MIN_CLASSES:
        raise InputError(f"AutoAttack's standard version needs at least {MIN_CLASSES} classes (APGD-T's targeted "
                         f"DLR loss); this model has {num_classes}")


class PixelModel(nn.Module):
    """``model`` on [0, 1] pixels: normalises inside, as the reference expects."""

    def __init__(self, model: nn.Module, pixel_mean, pixel_std):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(pixel_mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(pixel_std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model((pixels - self.mean) / self.std)


def standard_autoattack(model: nn.Module, eps: float, num_classes: int, seed: int, device):
    """The reference ``AutoAttack(model, norm="Linf", eps=eps, version="standard")`` on a pixel model,
    with ``min(9, num_classes - 1)`` target classes (the reference's 9 whenever there are 10 or more)."""
    require_reference(num_classes)
    aa = _reference().AutoAttack(model, norm="Linf", eps=eps, version="standard", seed=seed, verbose=False,
                                 device=device)
    aa.apgd_targeted.n_target_classes = aa.fab.n_target_classes = min(TARGET_CLASSES, num_classes - 1)
    return aa


def autoattack_attack(model: nn.Module, pixel_mean, pixel_std, eps: float, num_classes: int, seed: int = 0):
    """``attack(x, y) -> x̃`` on normalised batches: the reference standard AutoAttack of each batch."""
    require_reference(num_classes)
    pixel_model = PixelModel(model, pixel_mean, pixel_std)

    def attack(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        pixel_model.to(x.device)
        aa = standard_autoattack(pixel_model, eps, num_classes, seed, x.device)
        pixels = (x * pixel_model.std + pixel_model.mean).clamp(0, 1)
        return (aa.run_standard_evaluation(pixels, y, bs=len(y)) - pixel_model.mean) / pixel_model.std

    return attack
