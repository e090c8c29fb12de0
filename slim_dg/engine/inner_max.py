"""What an adversary and its objective add to a trainer: the adversarial-augmentation trainers and the
robustness trainers both ascend ``objective`` over ``adversary``'s own parameters before their step."""
from __future__ import annotations

import torch

from ..adversarial.base import Adversary
from ..adversarial.objectives import Objective
from .trainer import DGTrainer


class InnerMaxTrainer(DGTrainer):
    adversary: Adversary
    objective: Objective

    def set_adversary(self, adversary: Adversary, objective: Objective) -> None:
        self.adversary, self.objective = adversary, objective
        if self.scaler.is_enabled():  # float16: the inner loop scales its loss like the training step
            self.adversary.grad_scaler = self.scaler

    def step_metrics(self):
        # float16: inner steps left out for an overflow so far (a count on the device, no sync)
        return {"inner_overflows": torch.as_tensor(self.adversary.overflowed_steps)} if self.scaler.is_enabled() else {}

    def extra_state_dict(self) -> dict:
        return {"objective": self.objective.state_dict()}  # SLIM's generator: its draws go on after a resume

    def load_extra_state_dict(self, state: dict) -> None:
        self.objective.load_state_dict(state.get("objective", {}))
