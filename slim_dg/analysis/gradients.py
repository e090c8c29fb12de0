"""Diversity of the adversary's gradients: plain output loss vs SLIM's stochastic objectives.

From ``draws`` random starting points ``x̃_k`` of an image adversary (its random start, seeded
``k``), the input-space gradient of the plain objective ``∇_x̃ CE(f(x̃), y)`` and of one SLIM draw
``∇_x̃ J_SLIM`` (layer and λ re-drawn per ``k``) are taken per sample. Diversity is the mean
pairwise cosine between the ``draws`` gradients of a sample (lower: more diverse directions),
averaged over samples; the mean cosine of each SLIM gradient to the plain one at the same point
says how far SLIM turns the ascent direction. Gradients are taken as in training (model in
train mode, BN running statistics untouched).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..adversarial.base import adversarial_mode
from ..adversarial.clean_pass import clean_taps, without_bn_updates


def input_gradient(model, objective, x_start: torch.Tensor, y: torch.Tensor, clean_taps: dict) -> torch.Tensor:
    """Per-sample flattened ``∇_x̃ objective`` at ``x_start`` (one objective step: fresh draw for SLIM)."""
    x_start = x_start.detach().requires_grad_()
    taps = objective.begin_step()
    out = model(x_start, taps=taps) if taps else model(x_start)
    logits, adv_taps = out if taps else (out, {})
    loss = objective(logits, y, adv_taps, clean_taps)
    return torch.autograd.grad(loss, x_start)[0].flatten(1)


def mean_pairwise_cosine(grads: torch.Tensor) -> torch.Tensor:
    """``grads`` (draws, batch, dim) -> per sample, the mean cosine over pairs of distinct draws."""
    g = F.normalize(grads.transpose(0, 1), dim=2)  # (batch, draws, dim)
    sim = g @ g.transpose(1, 2)
    k = sim.shape[1]
    return (sim.sum(dim=(1, 2)) - sim.diagonal(dim1=1, dim2=2).sum(1)) / (k * (k - 1))


def gradient_diversity(model, adversary, plain, slim, x: torch.Tensor, y: torch.Tensor, draws: int = 16,
                       seed: int = 0) -> dict:
    if draws < 2:
        raise ValueError("gradient diversity needs at least 2 draws")
    if not hasattr(adversary, "generate"):
        raise TypeError(f"{type(adversary).__name__} is not an image-level adversary (advstyle, pgd)")
    was_training = model.training
    model.train()
    plain_g, slim_g, layers = [], [], []
    try:
        clean = clean_taps(model, adversary, x, slim.clean_taps)
        slim.start_batch()
        with adversarial_mode(model, adversary.bn_mode, adversary.update_bn):
            for k in range(draws):
                with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
                    torch.manual_seed(seed + k)
                    x_start = adversary.generate(x, adversary.init_params(model, x)).detach()
                plain_g.append(input_gradient(model, plain, x_start, y, {}))
                slim_g.append(input_gradient(model, slim, x_start, y, clean))
                layers.append(slim.layer)
    finally:
        model.train(was_training)
    plain_g, slim_g = torch.stack(plain_g), torch.stack(slim_g)
    plain_div, slim_div = mean_pairwise_cosine(plain_g), mean_pairwise_cosine(slim_g)
    to_plain = F.cosine_similarity(slim_g, plain_g, dim=2)  # (draws, batch)
    return {
        "draws": draws, "batch_size": int(x.shape[0]),
        "plain_pairwise_cosine": plain_div.mean().item(), "plain_pairwise_cosine_std": plain_div.std().item(),
        "slim_pairwise_cosine": slim_div.mean().item(), "slim_pairwise_cosine_std": slim_div.std().item(),
        "slim_to_plain_cosine": to_plain.mean().item(), "slim_to_plain_cosine_std": to_plain.std().item(),
        "slim_layers_drawn": layers,
        # per-sample values, for the histogram
        "plain_per_sample": plain_div.tolist(), "slim_per_sample": slim_div.tolist(),
    }
