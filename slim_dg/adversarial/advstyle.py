"""AdvStyle (Zhong et al., NeurIPS 2022): adversarial image style.

The style of an image is its per-channel mean and std. AdvStyle makes them learnable, starting
from the image's own values (plus optional Gaussian noise), re-styles the normalised image with
them, and takes ``steps`` SGD ascent steps of size ``lr`` on the objective (the gradient itself,
not its sign, as in the paper). Statistics are taken of the network's (normalised) input.

σ′ is kept at or above ``SIGMA_FLOOR`` after the random start and after every step: a σ′ that
crossed zero would invert the image's contrast, which is no longer a change of style.
"""
from __future__ import annotations

import torch

from ..config.validate import check_ranges
from .base import ImageAdversary, pixel_bounds
from .build import ADVERSARY_REGISTRY

_EPS = 1e-6
SIGMA_FLOOR = _EPS ** 0.5  # the smallest std ``style_of`` gives an image (a flat channel)


def style_of(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image, per-channel mean and std, shaped (B, C, 1, 1)."""
    mu = x.mean(dim=(2, 3), keepdim=True)
    sigma = (x.var(dim=(2, 3), keepdim=True) + _EPS).sqrt()
    return mu, sigma


@ADVERSARY_REGISTRY.register(name="advstyle")
class AdvStyle(ImageAdversary):
    config_keys = {
        "ADV.LR": 1.0,  # SGD ascent step on the style parameters
        "ADV.CLAMP": True,  # keep adversarial images in the valid pixel range [0, 1]
    }

    def __init__(self, lr: float = 1.0, steps: int = 1, random_start: float = 0.0, clamp: bool = True,
                 pixel_mean=(0.5, 0.5, 0.5), pixel_std=(0.5, 0.5, 0.5), **kw):
        super().__init__(steps, **kw)
        self.lr = lr
        self.random_start = random_start
        self.clamp = clamp
        self.pixel_mean, self.pixel_std = tuple(pixel_mean), tuple(pixel_std)

    @classmethod
    def from_config(cls, cfg, model=None) -> "AdvStyle":
        a = cfg.ADV
        return cls(a.LR, a.STEPS, a.RANDOM_START, a.CLAMP, cfg.INPUT.PIXEL_MEAN, cfg.INPUT.PIXEL_STD,
                   bn_mode=a.BN_MODE, update_bn=a.UPDATE_BN)

    @classmethod
    def check_config(cls, cfg) -> None:
        check_ranges(cfg, [("ADV.LR", lambda v: v >= 0, ">= 0")])

    def init_params(self, model, x):
        mu, sigma = (s.detach().clone() for s in style_of(x))
        if self.random_start > 0:
            mu += self.random_start * torch.randn_like(mu)
            sigma += self.random_start * torch.randn_like(sigma)
            sigma.clamp_(min=SIGMA_FLOOR)
        return [mu.requires_grad_(), sigma.requires_grad_()]

    def generate(self, x, params):
        mu, sigma = style_of(x)
        adv_mu, adv_sigma = params
        out = (x - mu) / sigma * adv_sigma + adv_mu
        if self.clamp:
            lo, hi = pixel_bounds(x, self.pixel_mean, self.pixel_std)
            out = torch.maximum(torch.minimum(out, hi), lo)
        return out

    @torch.no_grad()
    def ascend(self, x, params, grads):
        for p, g in zip(params, grads):
            p.add_(g, alpha=self.lr)
        params[1].clamp_(min=SIGMA_FLOOR)
