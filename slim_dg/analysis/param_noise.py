"""Flatness as robustness to weight noise: per-domain accuracy after adding Gaussian noise of
relative scale σ to every parameter tensor ``w``: ``w + σ · rms(w) · ε``, ``ε ~ N(0, I)``.

A flatter minimum loses less accuracy as σ grows. Each σ > 0 is averaged over ``draws`` noise
draws; σ = 0 is evaluated once, on the untouched weights (so it reproduces the clean accuracy
exactly). BN running statistics are buffers and are left alone.
"""
from __future__ import annotations

import copy
from typing import Mapping, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader

from ..evaluation import evaluate_domains


@torch.no_grad()
def add_relative_noise(model: nn.Module, sigma: float, generator: torch.Generator) -> None:
    for p in model.parameters():
        rms = p.detach().float().pow(2).mean().sqrt()
        noise = torch.randn(p.shape, generator=generator, dtype=torch.float32).to(p.device)
        p.add_((sigma * rms * noise).to(p.dtype))


def noise_curve(model: nn.Module, loaders: Mapping[str, DataLoader], sigmas: Sequence[float], draws: int = 3,
                seed: int = 0, device: torch.device | str = "cpu") -> list[dict]:
    """One entry per σ: ``{"sigma", "draws", "domains": {d: {"accuracy": mean, "std": ..., "runs": [...]}}}``."""
    device = torch.device(device)
    g = torch.Generator().manual_seed(seed)
    curve = []
    for sigma in sigmas:
        if sigma < 0:
            raise ValueError(f"noise scale must be >= 0, got {sigma}")
        runs = []
        for _ in range(1 if sigma == 0 else draws):
            noisy = model if sigma == 0 else copy.deepcopy(model)
            if sigma > 0:
                add_relative_noise(noisy, sigma, g)
            runs.append(evaluate_domains(noisy, loaders, device))
        domains = {}
        for d in loaders:
            accs = torch.tensor([r[d]["accuracy"] for r in runs], dtype=torch.float64)
            domains[d] = {"accuracy": accs.mean().item(), "std": accs.std().item() if len(accs) > 1 else 0.0,
                          "runs": accs.tolist(), "num_samples": runs[0][d]["num_samples"]}
        curve.append({"sigma": float(sigma), "draws": len(runs), "domains": domains})
    return curve
