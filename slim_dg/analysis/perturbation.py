"""How much an adversary changes the network's features at each depth (the paper's core figure).

For a batch ``x`` and the adversarial batch ``x̃`` an adversary produces against the model, per tap
``l``: the relative change ``‖h_l(x̃) − h_l(x)‖ / ‖h_l(x)‖`` and ``cos(h_l(x̃), h_l(x))`` of the
flattened per-sample features, averaged over the batch. The adversary runs its inner loop as in
training (its own BN mode; never updating BN running statistics, even for a run trained with
``ADV.UPDATE_BN True``: analysing a model leaves it unchanged); the features are then read in eval
mode, the model as it is deployed.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..adversarial.base import Adversary
from ..errors import InputError
from ..adversarial.clean_pass import clean_taps, without_bn_updates


@torch.no_grad()
def feature_change(model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor, taps: list[int]) -> dict[int, dict]:
    """``{tap: {"relative_change": mean, "cosine": mean, ...std}}`` between clean and adversarial features."""
    was_training = model.training
    model.eval()
    try:
        _, clean = model(x, taps=taps)
        _, adv = model(x_adv, taps=taps)
    finally:
        model.train(was_training)
    out = {}
    for t in taps:
        h, h_adv = clean[t].flatten(1).float(), adv[t].flatten(1).float()
        rel = (h_adv - h).norm(dim=1) / h.norm(dim=1).clamp_min(1e-12)
        cos = F.cosine_similarity(h_adv, h, dim=1)
        out[t] = {"relative_change": rel.mean().item(), "relative_change_std": rel.std().item() if len(rel) > 1 else 0.0,
                  "cosine": cos.mean().item(), "cosine_std": cos.std().item() if len(cos) > 1 else 0.0,
                  "num_samples": len(rel)}
    return out


def adversarial_batch(model: nn.Module, adversary: Adversary, objective, x: torch.Tensor, y: torch.Tensor,
                      seed: int) -> torch.Tensor:
    """``x̃`` as the training step makes it; ``seed`` fixes the random start, so two objectives
    (plain and SLIM) are compared from the same starting point."""
    if not hasattr(adversary, "generate"):
        raise InputError(f"{type(adversary).__name__} perturbs features, not images; this analysis needs an "
                        "image-level adversary (advstyle, pgd)")
    adversary = without_bn_updates(adversary)
    was_training = model.training
    model.train()  # as in a training step; the BN running statistics stay untouched
    try:
        with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
            torch.manual_seed(seed)
            taps = clean_taps(model, adversary, x, objective.clean_taps)
            objective.start_batch()
            params = adversary.perturb(model, x, y, objective, taps)
    finally:
        model.train(was_training)
    return adversary.generate(x, params).detach()


def perturbation_profile(model, adversary, objective, x, y, seed: int = 0) -> dict[int, dict]:
    """Per tap (all of the backbone's), how far ``adversary`` maximising ``objective`` moves the features."""
    x_adv = adversarial_batch(model, adversary, objective, x, y, seed)
    return feature_change(model, x, x_adv, list(range(model.backbone.num_taps)))
