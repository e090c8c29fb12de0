"""Diversity of the adversary's ascent directions: plain output loss vs SLIM's stochastic objectives.

Directions are measured where the adversary moves: in its own parameter space (AdvStyle's
(μ′, σ′), FeatAdvStyle's statistics shifts), and for PGD as the signed step ``sign(∇_δ J)`` it
actually takes (``Adversary.ascent_direction``), not as input-space gradients.

From ``draws`` random starting points of the adversary (its random start, seeded ``seed + k``), the
direction of the plain objective and of one SLIM draw (layer and λ re-drawn per ``k``) are taken per
sample. Diversity is the mean pairwise cosine between the ``draws`` directions of a sample (lower:
more diverse), averaged over samples; ``cos_to_plain`` is the mean cosine of each SLIM direction to
the plain one at the same point: how far SLIM turns the ascent. ``per_tap`` repeats both with SLIM's
layer fixed to each candidate tap in turn (λ still drawn). Directions are taken as in training
(model in train mode, the adversary's BN mode, through the objective's ``ascent_gradients``, so
``SLIM.BALANCE`` acts as in training) without ever updating BN running statistics.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from ..adversarial.base import Adversary, adversarial_mode
from ..adversarial.clean_pass import clean_taps, without_bn_updates


def ascent_direction(model, adversary: Adversary, objective, x: torch.Tensor, y: torch.Tensor,
                     start: list[torch.Tensor], clean: dict) -> torch.Tensor:
    """Per-sample direction of one ascent step of ``objective`` from the adversary parameters ``start``
    (one objective step: a fresh draw for SLIM), shape (batch, dim)."""
    params = [p.detach().clone().requires_grad_() for p in start]
    taps = objective.begin_step()
    out = adversary.forward(model, x, params, taps=taps)
    logits, adv_taps = out if taps else (out, {})
    grads = objective.ascent_gradients(lambda losses: adversary.gradients_of(losses, params), logits, y, adv_taps,
                                       clean)
    return adversary.ascent_direction(grads)


def at_tap(slim, tap: int):
    """A copy of the SLIM objective ``slim`` whose layer is always ``tap`` (λ drawn from a copy of its generator)."""
    fixed = copy.copy(slim)
    fixed.layers, fixed.layer = [tap], tap  # ``layer`` too: with SAMPLE_PER batch no step re-draws it
    fixed.generator = torch.Generator().set_state(slim.generator.get_state())
    return fixed


def mean_pairwise_cosine(directions: torch.Tensor) -> torch.Tensor:
    """``directions`` (draws, batch, dim) -> per sample, the mean cosine over pairs of distinct draws."""
    g = F.normalize(directions.transpose(0, 1), dim=2)  # (batch, draws, dim)
    sim = g @ g.transpose(1, 2)
    k = sim.shape[1]
    return (sim.sum(dim=(1, 2)) - sim.diagonal(dim1=1, dim2=2).sum(1)) / (k * (k - 1))


def gradient_diversity(model, adversary: Adversary, plain, slim, x: torch.Tensor, y: torch.Tensor, draws: int = 16,
                       seed: int = 0) -> dict:
    if draws < 2:
        raise ValueError("gradient diversity needs at least 2 draws")
    adversary = without_bn_updates(adversary)
    was_training = model.training
    model.train()
    try:
        clean = clean_taps(model, adversary, x, slim.clean_taps)
        slim.start_batch()
        with adversarial_mode(model, adversary.bn_mode, update_bn=False):
            starts = []
            for k in range(draws):
                with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
                    torch.manual_seed(seed + k)
                    starts.append(adversary.init_params(model, x))
            plain_d = [ascent_direction(model, adversary, plain, x, y, start, {}) for start in starts]
            slim_d, drawn = [], []
            for start in starts:
                slim_d.append(ascent_direction(model, adversary, slim, x, y, start, clean))
                drawn.append(slim.layer)
            by_tap = {tap: [ascent_direction(model, adversary, fixed, x, y, start, clean) for start in starts]
                      for tap, fixed in ((t, at_tap(slim, t)) for t in slim.layers)}
    finally:
        model.train(was_training)
    plain_d, slim_d = torch.stack(plain_d).float(), torch.stack(slim_d).float()  # (draws, batch, dim)
    plain_div, slim_div = mean_pairwise_cosine(plain_d), mean_pairwise_cosine(slim_d)
    to_plain = F.cosine_similarity(slim_d, plain_d, dim=2)  # (draws, batch)
    per_tap = {}
    for tap, d in by_tap.items():
        d = torch.stack(d).float()
        div, cos = mean_pairwise_cosine(d), F.cosine_similarity(d, plain_d, dim=2)
        per_tap[tap] = {"slim_pairwise_cosine": div.mean().item(), "slim_pairwise_cosine_std": div.std().item(),
                        "cos_to_plain": cos.mean().item(), "cos_to_plain_std": cos.std().item()}
    return {
        "draws": draws, "batch_size": int(x.shape[0]), "space": adversary.direction_space,
        "plain_pairwise_cosine": plain_div.mean().item(), "plain_pairwise_cosine_std": plain_div.std().item(),
        "slim_pairwise_cosine": slim_div.mean().item(), "slim_pairwise_cosine_std": slim_div.std().item(),
        "cos_to_plain": to_plain.mean().item(), "cos_to_plain_std": to_plain.std().item(),
        "slim_layers_drawn": drawn, "per_tap": per_tap,
        # per-sample values, for the histogram
        "plain_per_sample": plain_div.tolist(), "slim_per_sample": slim_div.tolist(),
    }
