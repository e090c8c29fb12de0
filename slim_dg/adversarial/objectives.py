"""What the adversary maximises (``Objective``), and the losses of adversarial training's successors.

An objective is called once per adversarial step: ``begin_step()`` returns the tap indices it
needs from that step's forward pass (``None``: logits only), then ``objective(logits, target,
adv_taps, clean_taps)`` returns the scalar to ascend, and ``ascent_gradients`` turns that into the
step's gradients with respect to the adversary's parameters. ``clean_taps`` lists the taps it needs
from the clean batch, which the trainer supplies (see ``SLIM``, which wraps another objective).

Notation: ``p = softmax(f(x))`` on the clean batch, ``p̃ = softmax(f(x̃))`` on the adversarial one.

* plain methods (and PGD-AT, and MART's attack): ``CE(f(x̃), y)`` (``OutputLoss``);
* TRADES (Zhang et al., ICML 2019): inner ``KL(p ‖ p̃)`` with ``p`` fixed (computed once, in the
  adversary's mode); outer ``CE(f(x), y) + β · KL(p ‖ p̃)``, gradients through both ``p`` and ``p̃``.
* MART (Wang et al., ICLR 2020): outer ``BCE(p̃, y) + β · KL(p ‖ p̃) · (1 − p_y)`` per sample, with
  the boosted CE ``BCE(p̃, y) = −log p̃_y − log(1 − max_{k≠y} p̃_k)``. The attack ascends the
  plain CE, as the paper and the authors' code do (``TRAINER.MART.INNER_LOSS ce``, the default);
  ascending the boosted CE instead (``bce``) is an ablation.

Every KL and CE is a batch mean (the reference code sums the TRADES inner KL over the batch: PGD's
signed steps do not see a positive factor, but SLIM's λ is relative to the batch-mean scale).
``target`` is whatever the method compares the adversarial output with (labels, or TRADES' ``p``).
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F

EPS = 1e-12  # inside logarithms of probabilities that may round to 0 (or 1) in float32

#: the adversary's gradient function: losses -> for each loss, its gradients w.r.t. the adversary's parameters
GradientsOf = Callable[[Sequence[torch.Tensor]], list[list[torch.Tensor]]]


class Objective:
    """The interface every adversary objective implements; stateless objectives override ``__call__`` only."""

    #: taps of the clean batch the objective compares with (supplied by the trainer as ``clean_taps``)
    clean_taps: Sequence[int] = ()

    def start_batch(self) -> None:
        """Called once per batch, before the inner loop."""

    def begin_step(self) -> list[int] | None:
        """Called before each adversarial forward: the taps that forward must return (``None``: logits only)."""
        return None

    def __call__(self, logits: torch.Tensor, target: torch.Tensor, adv_taps=None, clean_taps=None) -> torch.Tensor:
        raise NotImplementedError

    def ascent_gradients(self, gradients_of: GradientsOf, logits: torch.Tensor, target: torch.Tensor,
                         adv_taps=None, clean_taps=None) -> list[torch.Tensor]:
        """The step's gradients w.r.t. the adversary's parameters: by default, those of ``self(...)``.
        ``gradients_of`` is the adversary's (one backward per loss, through its float16 loss scale)."""
        return gradients_of([self(logits, target, adv_taps, clean_taps)])[0]

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` returned (a checkpoint's ``objective``)."""


class OutputLoss(Objective):
    """The plain methods' ``J = CE(f(x̃), y)``."""

    def __call__(self, logits, target, adv_taps=None, clean_taps=None) -> torch.Tensor:
        return F.cross_entropy(logits, target)


def kl_to_clean(p_clean: torch.Tensor, logits_adv: torch.Tensor) -> torch.Tensor:
    """Per-sample ``KL(p ‖ softmax(logits_adv))``; 0 · log 0 counts as 0."""
    return F.kl_div(F.log_softmax(logits_adv, dim=1), p_clean, reduction="none").sum(1)


def boosted_ce(logits_adv: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample MART boosted CE: ``−log p̃_y − log(1 − max_{k≠y} p̃_k)``."""
    p = F.softmax(logits_adv, dim=1)
    others = p.scatter(1, y[:, None], -1.0)  # the true class can never be the max of the others
    top_other = others.max(1).values
    return F.cross_entropy(logits_adv, y, reduction="none") - torch.log((1 - top_other).clamp_min(EPS))


class KLToClean(Objective):
    """TRADES' inner objective; ``target`` is the clean prediction ``p`` (probabilities)."""

    def __call__(self, logits, target, adv_taps=None, clean_taps=None) -> torch.Tensor:
        return kl_to_clean(target, logits).mean()


class BoostedCE(Objective):
    """MART's boosted CE as an inner objective (``target``: labels)."""

    def __call__(self, logits, target, adv_taps=None, clean_taps=None) -> torch.Tensor:
        return boosted_ce(logits, target).mean()


def trades_loss(logits_clean: torch.Tensor, logits_adv: torch.Tensor, y: torch.Tensor,
                beta: float) -> dict[str, torch.Tensor]:
    """TRADES' outer loss (what the network minimises)."""
    p = F.softmax(logits_clean, dim=1)
    return {"ce": F.cross_entropy(logits_clean, y), "kl": beta * kl_to_clean(p, logits_adv).mean()}


def mart_loss(logits_clean: torch.Tensor, logits_adv: torch.Tensor, y: torch.Tensor,
              beta: float) -> dict[str, torch.Tensor]:
    """MART's outer loss (what the network minimises)."""
    p = F.softmax(logits_clean, dim=1)
    p_true = p.gather(1, y[:, None]).squeeze(1)
    weighted_kl = kl_to_clean(p, logits_adv) * (1 - p_true)
    return {"bce_adv": boosted_ce(logits_adv, y).mean(), "kl": beta * weighted_kl.mean()}
