"""The clean batch's forward in the adversary's mode: the one helper for every pass that feeds the
inner maximisation (SLIM's clean taps, TRADES' clean prediction) and for the analyses.

Such a pass is invisible to the model: it never updates BN running statistics, whatever
``ADV.UPDATE_BN`` says (the plain method makes no such pass, so it must not move them), and it
runs under a forked RNG, so a dropout mask it draws cannot shift the wrapped method's random
stream. Hence ``λ ≡ 0`` reproduces the plain method bit for bit in every BN mode, and an analysis
that calls it leaves the model exactly as it was.
"""
from __future__ import annotations

import contextlib
import copy

import torch
from torch import nn

from .base import Adversary, adversarial_mode


@torch.no_grad()
def clean_pass(model: nn.Module, adversary: Adversary, x: torch.Tensor, taps=(),
               method_pass: bool = False) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
    """Logits and ``taps`` of the clean batch in the adversary's BN/dropout mode.

    ``method_pass``: the wrapped method makes this pass itself (TRADES' clean prediction), so it
    draws from the method's random stream as the plain method does; otherwise the pass exists only
    for SLIM or an analysis and its draws come from a forked stream.
    """
    rng = contextlib.nullcontext() if method_pass else torch.random.fork_rng(
        devices=[x.device] if x.device.type == "cuda" else [])
    with rng, adversarial_mode(model, adversary.bn_mode, update_bn=False):
        if taps:
            return model(x, taps=list(taps))
        return model(x), {}


def clean_taps(model: nn.Module, adversary: Adversary, x: torch.Tensor, taps) -> dict[int, torch.Tensor]:
    """Only the clean taps (empty when ``taps`` is): what SLIM compares the adversarial ones with."""
    return clean_pass(model, adversary, x, taps)[1] if taps else {}


def without_bn_updates(adversary: Adversary) -> Adversary:
    """A shallow copy of ``adversary`` whose passes never update BN statistics (for analyses of a
    trained model, which must not change it even if the run trained with ``ADV.UPDATE_BN True``)."""
    frozen = copy.copy(adversary)
    frozen.update_bn = False
    return frozen
