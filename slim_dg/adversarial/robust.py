"""Adversarial training in the standard setting: PGD-AT, TRADES and MART, as one step function.

Each method is a small class: the inner objective PGD ascends (``inner``, wrapped by SLIM in the
*SLIM trainers), what that objective compares the adversarial output with (``inner_target``:
labels, or TRADES' clean prediction), and the outer loss. ``robust_losses`` is the one step:

 1. if the inner objective needs the clean prediction, or SLIM needs clean taps: one clean forward
    without grad, in the adversary's BN mode (``clean_pass``: never updating BN statistics; a pass
    only SLIM needs draws nothing from the method's random stream), so with λ ≡ 0 the plain and the
    SLIM trainer produce identical samples and steps;
 2. ``objective.start_batch()``; PGD ascends the objective from its random start;
 3. training forwards (clean if the outer loss needs it, then adversarial; separately, as in the
    reference implementations) and the method's loss dict.
"""
from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import Registry
from .base import Adversary, inner_loop_model
from .clean_pass import clean_pass
from .objectives import BoostedCE, KLToClean, Objective, OutputLoss, mart_loss, trades_loss

ROBUST_METHODS = Registry("Robust method")


class RobustMethod:
    #: whether the inner objective's target is the clean prediction (else: the labels)
    inner_uses_clean: ClassVar[bool] = False
    #: whether the outer loss needs the clean logits (a training forward of the clean batch)
    outer_uses_clean: ClassVar[bool] = False

    def __init__(self, inner: Objective | None = None):
        self.inner = inner or OutputLoss()

    @classmethod
    def from_config(cls, cfg) -> "RobustMethod":
        return cls()

    def inner_target(self, logits_clean: torch.Tensor | None, y: torch.Tensor) -> torch.Tensor:
        return y

    def outer(self, logits_clean: torch.Tensor | None, logits_adv: torch.Tensor,
              y: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError


@ROBUST_METHODS.register(name="pgdat")
class PGDAT(RobustMethod):
    """Madry et al. (2018): PGD on the CE, train on the adversarial batch only."""

    def outer(self, logits_clean, logits_adv, y):
        return {"ce_adv": F.cross_entropy(logits_adv, y)}


@ROBUST_METHODS.register(name="trades")
class TRADES(RobustMethod):
    inner_uses_clean = True
    outer_uses_clean = True

    def __init__(self, beta: float = 6.0):
        super().__init__(KLToClean())
        self.beta = beta

    @classmethod
    def from_config(cls, cfg) -> "TRADES":
        return cls(cfg.TRAINER.TRADES.BETA)

    def inner_target(self, logits_clean, y):
        return F.softmax(logits_clean, dim=1)

    def outer(self, logits_clean, logits_adv, y):
        return trades_loss(logits_clean, logits_adv, y, self.beta)


@ROBUST_METHODS.register(name="mart")
class MART(RobustMethod):
    outer_uses_clean = True

    def __init__(self, beta: float = 6.0, inner_loss: str = "ce"):
        if inner_loss not in ("ce", "bce"):
            raise ValueError(f"TRAINER.MART.INNER_LOSS must be 'ce' or 'bce', got '{inner_loss}'")
        super().__init__(BoostedCE() if inner_loss == "bce" else OutputLoss())
        self.beta = beta

    @classmethod
    def from_config(cls, cfg) -> "MART":
        return cls(cfg.TRAINER.MART.BETA, cfg.TRAINER.MART.INNER_LOSS)

    def outer(self, logits_clean, logits_adv, y):
        return mart_loss(logits_clean, logits_adv, y, self.beta)


def robust_losses(model: nn.Module, adversary: Adversary, objective, method: RobustMethod,
                  x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """The losses of one training step; the caller backpropagates their sum and steps."""
    need_taps = list(objective.clean_taps)
    target, clean_taps = y, {}
    inner = inner_loop_model(model)  # bare and uncompiled; the training forwards stay on ``model``
    if method.inner_uses_clean or need_taps:
        logits, clean_taps = clean_pass(inner, adversary, x, need_taps, method_pass=method.inner_uses_clean)
        target = method.inner_target(logits, y)
    objective.start_batch()
    params = adversary.perturb(inner, x, target, objective, clean_taps)
    x_adv = adversary.generate(x, params)
    logits_clean = model(x) if method.outer_uses_clean else None
    return method.outer(logits_clean, model(x_adv), y)


def build_method(name: str, cfg) -> RobustMethod:
    method = ROBUST_METHODS.get(name).from_config(cfg)
    if not isinstance(method, RobustMethod):
        raise TypeError(f"Robust method '{name}' built a {type(method).__name__}, not a RobustMethod")
    return method
