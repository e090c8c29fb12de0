"""FeatAdvStyle (after Zhang et al. 2023): adversarial channel statistics of intermediate features.

At each chosen tap, every sample's per-channel feature mean μ and std σ are shifted by learnable,
dimensionless amounts: the feature map becomes

    h' = (h - μ)/σ · σ(1 + a_σ) + μ + σ·a_μ  =  h + a_σ·(h - μ) + a_μ·σ

which is exactly ``h`` at a = 0 (μ, σ are treated as constants, as MixStyle does). ``a`` starts at
0 (plus Gaussian noise of std ``random_start``) and takes ``steps`` SGD ascent steps of size
``lr``. Unlike Zhang et al.'s single-step gradient reversal, the inner loop is explicit, so the
objective (and hence SLIM) decides the direction.
"""
from __future__ import annotations

import contextlib
from typing import Sequence

import torch

from ..config.load import ConfigError
from ..config.validate import check_ranges
from .base import Adversary
from .build import ADVERSARY_REGISTRY

_EPS = 1e-6


def _stat_dims(h: torch.Tensor) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Reduction dims and the (B, C) broadcast shape for NCHW maps or (B, tokens, C) sequences."""
    if h.dim() == 4:
        return (2, 3), (h.shape[0], h.shape[1], 1, 1)
    if h.dim() == 3:
        return (1,), (h.shape[0], 1, h.shape[2])
    raise ValueError(f"FeatAdvStyle expects NCHW or (B, tokens, C) features, got shape {tuple(h.shape)}")


def restyle(h: torch.Tensor, a_mu: torch.Tensor, a_sigma: torch.Tensor) -> torch.Tensor:
    dims, shape = _stat_dims(h)
    # statistics in float32: under float16 autocast a variance above 65504 would be inf
    h32 = h.detach().float()
    mu = h32.mean(dim=dims, keepdim=True)
    sigma = (h32.var(dim=dims, keepdim=True) + _EPS).sqrt()
    out = h + a_sigma.view(shape) * (h - mu.to(h.dtype)) + a_mu.view(shape) * sigma
    return out.to(h.dtype)


@ADVERSARY_REGISTRY.register(name="feat_advstyle")
class FeatAdvStyle(Adversary):
    config_keys = {
        "ADV.LR": 1.0,  # SGD ascent step on the relative statistics shift
        "ADV.FEAT_STAGES": [1, 2],  # backbone tap indices whose statistics are perturbed
    }

    def __init__(self, stages: Sequence[int], channels: Sequence[int], lr: float = 1.0, steps: int = 1,
                 random_start: float = 0.0, **kw):
        super().__init__(steps, **kw)
        if not stages:
            raise ValueError("FeatAdvStyle needs at least one stage (ADV.FEAT_STAGES)")
        self.stages = list(stages)
        self.channels = list(channels)
        self.lr = lr
        self.random_start = random_start

    @classmethod
    def from_config(cls, cfg, model) -> "FeatAdvStyle":
        backbone = model.backbone
        stages = [backbone.tap_index(s) for s in cfg.ADV.FEAT_STAGES]
        channels = [backbone.feature_info[s]["num_chs"] for s in stages]
        a = cfg.ADV
        return cls(stages, channels, a.LR, a.STEPS, a.RANDOM_START, bn_mode=a.BN_MODE, update_bn=a.UPDATE_BN)

    @classmethod
    def check_config(cls, cfg) -> None:
        check_ranges(cfg, [("ADV.LR", lambda v: v >= 0, ">= 0"),
                           ("ADV.FEAT_STAGES", lambda v: len(v) > 0, "at least one tap index")])
        if cfg.TRAIN.COMPILE:
            # tests/adversarial/test_compile_feat_advstyle.py shows the hooks being ignored
            raise ConfigError("TRAIN.COMPILE True cannot train FeatAdvStyle: its stage edits are forward hooks added "
                              "after the compiled model's first call, which torch.compile does not see, so the "
                              "adversarial pass would silently be the clean one. Set TRAIN.COMPILE False.")

    def init_params(self, model, x):
        params = []
        for c in self.channels:
            for _ in range(2):  # a_mu, a_sigma
                p = torch.zeros(x.shape[0], c, device=x.device, dtype=x.dtype)
                if self.random_start > 0:
                    p.normal_(0.0, self.random_start)
                params.append(p.requires_grad_())
        return params

    def forward(self, model, x, params, taps=None):
        with contextlib.ExitStack() as stack:
            for i, stage in enumerate(self.stages):
                a_mu, a_sigma = params[2 * i], params[2 * i + 1]
                stack.enter_context(model.backbone.edit_stage_output(
                    stage, lambda h, a_mu=a_mu, a_sigma=a_sigma: restyle(h, a_mu, a_sigma)))
            return model(x, taps=taps)

    def joint_forward(self, model, x, params):
        # the clean half gets a = 0, which restyles nothing (h + 0·(h - μ) + 0·σ = h exactly)
        return self.forward(model, torch.cat([x, x]), [torch.cat([torch.zeros_like(p), p]) for p in params])

    @torch.no_grad()
    def ascend(self, x, params, grads):
        for p, g in zip(params, grads):
            p.add_(g, alpha=self.lr)
