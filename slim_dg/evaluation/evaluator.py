"""Per-domain accuracy: each domain is evaluated and reported on its own, never pooled.

Under DDP each process evaluates a disjoint shard of every domain (``ShardSampler``, no padding)
and the integer counts (correct, seen, skipped) are summed over processes before the accuracy is
taken, so the result is exactly that of one process evaluating the whole domain.
"""
from __future__ import annotations

import contextlib
from typing import Mapping

import torch
from torch import nn
from torch.utils.data import DataLoader

from ..utils.distributed import all_reduce_sum
from ..utils.phases import phase


@torch.inference_mode()  # no autograd records, no version counters: cheaper than no_grad
def evaluate_domain(model: nn.Module, loader: DataLoader, device: torch.device, amp_dtype: torch.dtype | None = None,
                    memory_format: torch.memory_format = torch.contiguous_format) -> dict:
    """``amp_dtype``: autocast the forward passes to it; ``memory_format``: of the input batches."""
    was_training = model.training
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=device)  # on the device: no sync per batch
    total = skipped = 0
    autocast = (torch.autocast(device.type, dtype=amp_dtype) if amp_dtype is not None
                else contextlib.nullcontext())
    try:
        for batch in loader:
            skipped += int(batch.pop("skipped", 0))
            if "img" not in batch:
                continue
            x = batch["img"].to(device, non_blocking=True, memory_format=memory_format)
            y = batch["label"].to(device, non_blocking=True)
            with autocast:
                logits = model(x)
            correct += (logits.argmax(1) == y).sum()
            total += y.numel()
    finally:
        model.train(was_training)
    correct, total, skipped = all_reduce_sum([int(correct), total, skipped], device)
    out = {"accuracy": 100.0 * correct / max(total, 1), "num_samples": total}
    if skipped:
        out["num_skipped"] = skipped  # unreadable images left out (DATALOADER.ON_BAD_IMAGE skip)
    return out


def evaluate_domains(model: nn.Module, loaders: Mapping[str, DataLoader], device: torch.device,
                     **kwargs) -> dict[str, dict]:
    """``{domain: {"accuracy": percent, "num_samples": n}}``; ``kwargs`` as for ``evaluate_domain``."""
    with phase("evaluation"):
        return {d: evaluate_domain(model, loader, device, **kwargs) for d, loader in loaders.items()}
