"""PGD in the L_inf ball (Madry et al., 2018), as an augmentation or for adversarial training, and
as the white-box attack on a trained model (``pgd_attack``).

``eps`` and ``step_size`` are in [0, 1] pixel units; the perturbation is kept there and mapped to
the network's normalised input space, so x̃ = x exactly when δ = 0.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..config.validate import check_ranges
from .base import ImageAdversary, channel_constant, pixel_bounds
from .build import ADVERSARY_REGISTRY
from .clean_pass import clean_taps
from .objectives import OutputLoss


@ADVERSARY_REGISTRY.register(name="pgd")
class PGD(ImageAdversary):
    direction_space = "sign of the gradient wrt δ (the PGD step)"
    config_keys = {  # also the robustness trainers' attack and validation settings
        "ADV.EPS": 8.0 / 255,  # L_inf radius in [0, 1] pixel units
        "ADV.STEP_SIZE": 2.0 / 255,  # signed-gradient step in [0, 1] pixel units
        "ADV.CLAMP": True,  # keep adversarial images in the valid pixel range [0, 1]
    }

    def __init__(self, eps: float = 8 / 255, steps: int = 1, step_size: float = 2 / 255, random_start: float = 0.0,
                 clamp: bool = True, pixel_mean=(0.5, 0.5, 0.5), pixel_std=(0.5, 0.5, 0.5), **kw):
        super().__init__(steps, **kw)
        self.eps, self.step_size = eps, step_size
        self.random_start = random_start
        self.clamp = clamp
        self.pixel_mean, self.pixel_std = tuple(pixel_mean), tuple(pixel_std)

    @classmethod
    def from_config(cls, cfg, model=None) -> "PGD":
        a = cfg.ADV
        return cls(a.EPS, a.STEPS, a.STEP_SIZE, a.RANDOM_START, a.CLAMP, cfg.INPUT.PIXEL_MEAN, cfg.INPUT.PIXEL_STD,
                   bn_mode=a.BN_MODE, update_bn=a.UPDATE_BN)

    @classmethod
    def check_config(cls, cfg) -> None:
        check_ranges(cfg, [("ADV.EPS", lambda v: v >= 0, ">= 0 (an L_inf radius in [0, 1] pixel units)"),
                           ("ADV.STEP_SIZE", lambda v: v >= 0, ">= 0")])

    def _std(self, x):
        return channel_constant(self.pixel_std, x.dtype, x.device)

    @torch.no_grad()
    def _project(self, x, delta):
        """Onto the eps-ball, intersected (when clamping) with the box that keeps x + δ in [0, 1]:
        both are per-pixel intervals, so clamping to their intersection is the exact projection."""
        if not self.clamp:
            delta.clamp_(-self.eps, self.eps)
            return
        lo, hi = pixel_bounds(x, self.pixel_mean, self.pixel_std)
        std = self._std(x)
        delta.copy_(torch.minimum(torch.maximum(delta, ((lo - x) * std).clamp(min=-self.eps)),
                                  ((hi - x) * std).clamp(max=self.eps)))

    def init_params(self, model, x):
        delta = torch.zeros_like(x)
        if self.random_start > 0:
            r = self.random_start * self.eps
            delta.uniform_(-r, r)
            self._project(x, delta)
        return [delta.requires_grad_()]

    def generate(self, x, params):
        return x + params[0] / self._std(x)

    def ascent_direction(self, grads):
        return grads[0].sign().flatten(1)

    @torch.no_grad()
    def ascend(self, x, params, grads):
        delta = params[0]
        delta.add_(grads[0].sign(), alpha=self.step_size)
        self._project(x, delta)


def pgd_attack(model: nn.Module, eps: float, steps: int, step_size: float, pixel_mean, pixel_std,
               objective=None) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """PGD from a uniform random start in the eps-ball, ascending ``objective`` (default: the CE),
    with the model in eval mode; our ``PGD`` adversary, so it is exactly the training threat model.
    An objective that compares taps (``objective.clean_taps``) gets the clean ones, also in eval mode.
    Returns ``attack(x, y) -> x̃`` on normalised batches."""
    adversary = PGD(eps, steps, step_size, random_start=1.0, clamp=True, pixel_mean=pixel_mean,
                    pixel_std=pixel_std, bn_mode="eval", update_bn=False)
    objective = objective or OutputLoss()

    def attack(x, y):
        taps = clean_taps(model, adversary, x, objective.clean_taps)
        objective.start_batch()
        return adversary.generate(x, adversary.perturb(model, x, y, objective, taps))

    return attack
