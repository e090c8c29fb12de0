"""Per-domain accuracy: each domain is evaluated and reported on its own, never pooled."""
from __future__ import annotations

from typing import Mapping

import torch
from torch import nn
from torch.utils.data import DataLoader


@torch.no_grad()
def evaluate_domain(model: nn.Module, loader: DataLoader, device: torch.device) -> dict:
    was_training = model.training
    model.eval()
    correct = total = skipped = 0
    try:
        for batch in loader:
            skipped += int(batch.pop("skipped", 0))
            if "img" not in batch:
                continue
            x = batch["img"].to(device, non_blocking=True)
            y = batch["label"].to(device, non_blocking=True)
            correct += (model(x).argmax(1) == y).sum().item()
            total += y.numel()
    finally:
        model.train(was_training)
    out = {"accuracy": 100.0 * correct / max(total, 1), "num_samples": total}
    if skipped:
        out["num_skipped"] = skipped  # unreadable images left out (DATALOADER.ON_BAD_IMAGE skip)
    return out


def evaluate_domains(model: nn.Module, loaders: Mapping[str, DataLoader], device: torch.device) -> dict[str, dict]:
    """``{domain: {"accuracy": percent, "num_samples": n}}``."""
    return {d: evaluate_domain(model, loader, device) for d, loader in loaders.items()}
