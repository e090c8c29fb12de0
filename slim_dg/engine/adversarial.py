"""Adversarial-augmentation trainers: an adversary × an objective (plain or SLIM), no copies.

One training step (DESIGN §2), computed by ``slim_dg.adversarial.step.adversarial_losses``, the
function the Dassl integration's trainers call too:
 1. clean forward with grad (its detached taps are SLIM's clean features when the modes match);
 2. the adversary's inner loop ascends the objective over the adversary's own parameters;
 3. forward of the adversarial batch, one CE over clean + adversarial logits, one backward.

``TRAINER.NAME Adversarial`` takes the adversary from ``ADV.NAME`` and SLIM from
``SLIM.ENABLED``; the named trainers below fix both, so a new adversary needs no new trainer.
"""
from __future__ import annotations

from typing import ClassVar

import torch

from ..adversarial.build import NAMED_TRAINERS
from ..adversarial.step import adversarial_losses, build_adversary_and_objective, reuses_clean_taps
from .build import TRAINER_REGISTRY
from .trainer import DGTrainer


@TRAINER_REGISTRY.register(name="Adversarial")
class AdversarialTrainer(DGTrainer):
    adversary_name: ClassVar[str] = ""  # "" : from ADV.NAME
    use_slim: ClassVar[bool | None] = None  # None: from SLIM.ENABLED

    def __init__(self, cfg):
        super().__init__(cfg)
        self.adversary, self.objective = build_adversary_and_objective(cfg, self.model, self.adversary_name,
                                                                       self.use_slim)
        if self.scaler.is_enabled():  # float16: the inner loop scales its loss like the training step
            self.adversary.grad_scaler = self.scaler
        self.train_on_clean = cfg.ADV.TRAIN_ON == "clean+adv"
        # clean taps can come from the training forward only if it runs in the adversary's BN mode
        self.reuse_clean_taps = reuses_clean_taps(self.adversary, self.train_on_clean)
        self.joint_forward = cfg.ADV.JOINT_FORWARD

    def compute_losses(self, batch):
        return adversarial_losses(self.model, self.adversary, self.objective, batch["img"], batch["label"],
                                  self.train_on_clean, self.reuse_clean_taps, self.joint_forward)

    def step_metrics(self):
        # float16: inner steps left out for an overflow so far (a count on the device, no sync)
        return {"inner_overflows": torch.as_tensor(self.adversary.overflowed_steps)} if self.scaler.is_enabled() else {}

    def extra_state_dict(self) -> dict:
        return {"objective": self.objective.state_dict()}

    def load_extra_state_dict(self, state: dict) -> None:
        self.objective.load_state_dict(state.get("objective", {}))


def _register(name: str, adversary: str, slim: bool) -> type:
    cls = type(name, (AdversarialTrainer,), {"adversary_name": adversary, "use_slim": slim, "__module__": __name__,
                                              "__doc__": f"{adversary} adversary, {'SLIM' if slim else 'plain'} objective."})
    return TRAINER_REGISTRY.register(cls)


for _name, _adversary, _slim in NAMED_TRAINERS:  # AdvStyle, AdvStyleSLIM, PGD, ... as module attributes
    globals()[_name] = _register(_name, _adversary, _slim)
