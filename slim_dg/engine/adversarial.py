"""Adversarial-augmentation trainers: an adversary × an objective (plain or SLIM), no copies.

One training step (DESIGN §2):
 1. clean forward with grad (its detached taps are SLIM's clean features when the modes match);
 2. the adversary's inner loop ascends the objective over the adversary's own parameters;
 3. forward of the adversarial batch, one CE over clean + adversarial logits, one backward.

``TRAINER.NAME Adversarial`` takes the adversary from ``ADV.NAME`` and SLIM from
``SLIM.ENABLED``; the named trainers below fix both, so a new adversary needs no new trainer.
"""
from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from ..adversarial import OutputLoss, SLIM, adversarial_mode, build_adversary
from .build import TRAINER_REGISTRY
from .trainer import DGTrainer


@TRAINER_REGISTRY.register(name="Adversarial")
class AdversarialTrainer(DGTrainer):
    adversary_name: ClassVar[str] = ""  # "" : from ADV.NAME
    use_slim: ClassVar[bool | None] = None  # None: from SLIM.ENABLED

    def __init__(self, cfg):
        super().__init__(cfg)
        name = self.adversary_name or cfg.ADV.NAME
        if not name:
            raise ValueError("TRAINER.NAME Adversarial needs ADV.NAME (e.g. advstyle, pgd, feat_advstyle)")
        self.adversary = build_adversary(name, cfg, self.model)
        slim = cfg.SLIM.ENABLED if self.use_slim is None else self.use_slim
        self.objective = SLIM.from_config(cfg, self.model.backbone) if slim else OutputLoss()
        self.train_on_clean = cfg.ADV.TRAIN_ON == "clean+adv"
        # clean taps can come from the training forward only if it runs in the adversary's BN mode
        self.reuse_clean_taps = self.train_on_clean and self.adversary.bn_mode == "train"

    def compute_losses(self, batch):
        x, y = batch["img"], batch["label"]
        need = self.objective.clean_taps
        logits_clean, clean_taps = None, {}
        if self.train_on_clean:
            if need and self.reuse_clean_taps:
                logits_clean, taps = self.model(x, taps=need)
                clean_taps = {k: v.detach() for k, v in taps.items()}
            else:
                logits_clean = self.model(x)
        if need and not clean_taps:
            clean_taps = self._clean_taps(x, need)
        self.objective.start_batch()
        params = self.adversary.perturb(self.model, x, y, self.objective, clean_taps)
        logits_adv = self.adversary.forward(self.model, x, params)
        if logits_clean is None:
            return {"ce_adv": F.cross_entropy(logits_adv, y)}
        return {"ce": F.cross_entropy(torch.cat([logits_clean, logits_adv]), torch.cat([y, y]))}

    @torch.no_grad()
    def _clean_taps(self, x, taps):
        """Clean features in the adversary's mode, when no training pass can provide them."""
        with adversarial_mode(self.model, self.adversary.bn_mode, self.adversary.update_bn):
            return self.model(x, taps=taps)[1]

    def extra_state_dict(self) -> dict:
        return {"objective": self.objective.state_dict()}

    def load_extra_state_dict(self, state: dict) -> None:
        self.objective.load_state_dict(state.get("objective", {}))


def _register(name: str, adversary: str, slim: bool) -> type:
    cls = type(name, (AdversarialTrainer,), {"adversary_name": adversary, "use_slim": slim, "__module__": __name__,
                                              "__doc__": f"{adversary} adversary, {'SLIM' if slim else 'plain'} objective."})
    return TRAINER_REGISTRY.register(cls)


AdvStyle = _register("AdvStyle", "advstyle", slim=False)
AdvStyleSLIM = _register("AdvStyleSLIM", "advstyle", slim=True)
PGD = _register("PGD", "pgd", slim=False)
PGDSLIM = _register("PGDSLIM", "pgd", slim=True)
FeatAdvStyle = _register("FeatAdvStyle", "feat_advstyle", slim=False)
FeatAdvStyleSLIM = _register("FeatAdvStyleSLIM", "feat_advstyle", slim=True)
