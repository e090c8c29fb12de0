"""What the adversary maximises. ``OutputLoss`` is the plain methods' ``J = CE(f(x̃), y)``.

An objective is called once per adversarial step: ``begin_step()`` returns the tap indices it
needs from that step's forward pass (``None``: logits only), then ``objective(logits, y,
adv_taps, clean_taps)`` returns the scalar to ascend. ``clean_taps`` lists the taps it needs
from the clean batch, which the trainer supplies (see ``SLIM``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


class OutputLoss:
    clean_taps: list[int] = []

    def start_batch(self) -> None: ...

    def begin_step(self) -> list[int] | None:
        return None

    def __call__(self, logits: torch.Tensor, y: torch.Tensor, adv_taps=None, clean_taps=None) -> torch.Tensor:
        return F.cross_entropy(logits, y)

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None: ...
