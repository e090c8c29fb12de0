"""Accuracy under attack on one evaluation loader; the attacks themselves come from the caller
(``slim_dg.adversarial.pgd.pgd_attack``, the table of ``slim_dg.analysis.attacks``).

The model is attacked and judged in eval mode (the deployed model). The attack's random starts come
from a generator forked from ``seed``, so the number is reproducible and the caller's random
stream (a training run's) is left exactly as it was. Under DDP each process attacks its shard and
the counts are summed, as in ``evaluate_domain``.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader

from ..utils.distributed import all_reduce_sum

Attack = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # normalised (x, y) -> normalised x̃


def attack_accuracy(model: nn.Module, loader: DataLoader, attacks: dict[str, Attack], device: torch.device,
                    seed: int = 0) -> dict:
    """``{"num_samples": n, "clean": {"accuracy"}, <attack>: {"accuracy"}, ...}`` in percent."""
    was_training = model.training
    model.eval()
    correct = {"clean": 0, **{a: 0 for a in attacks}}
    total = 0
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            for batch in loader:
                if "img" not in batch:
                    continue
                x, y = batch["img"].to(device), batch["label"].to(device)
                with torch.no_grad():
                    correct["clean"] += int((model(x).argmax(1) == y).sum())
                for name, attack in attacks.items():
                    x_adv = attack(x, y).detach()
                    model.eval()  # an attack may have changed the mode
                    with torch.no_grad():
                        correct[name] += int((model(x_adv).argmax(1) == y).sum())
                total += len(y)
    finally:
        model.train(was_training)
    names = list(correct)
    counts = all_reduce_sum([correct[k] for k in names] + [total], device)
    total = counts[-1]
    out = {"num_samples": int(total)}
    for k, c in zip(names, counts[:-1]):
        out[k] = {"accuracy": 100.0 * c / max(total, 1)}
    return out
