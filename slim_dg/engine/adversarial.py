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

from ..adversarial.step import adversarial_losses, build_adversary_and_objective, reuses_clean_taps
from .build import TRAINER_REGISTRY
from .inner_max import InnerMaxTrainer


@TRAINER_REGISTRY.register(name="Adversarial")
class AdversarialTrainer(InnerMaxTrainer):
    adversary_name: ClassVar[str] = ""  # "" : from ADV.NAME
    use_slim: ClassVar[bool | None] = None  # None: from SLIM.ENABLED

    def __init__(self, cfg):
        super().__init__(cfg)
        self.set_adversary(*build_adversary_and_objective(cfg, self.model, self.adversary_name, self.use_slim))
        self.train_on_clean = cfg.ADV.TRAIN_ON == "clean+adv"
        # clean taps can come from the training forward only if it runs in the adversary's BN mode
        self.reuse_clean_taps = reuses_clean_taps(self.adversary, self.train_on_clean)
        self.joint_forward = cfg.ADV.JOINT_FORWARD

    def compute_losses(self, batch):
        return adversarial_losses(self.model, self.adversary, self.objective, batch["img"], batch["label"],
                                  self.train_on_clean, self.reuse_clean_taps, self.joint_forward)


@TRAINER_REGISTRY.register()
class AdvStyle(AdversarialTrainer):
    """AdvStyle's adversary (``advstyle``), plain objective."""
    adversary_name, use_slim = "advstyle", False


@TRAINER_REGISTRY.register()
class AdvStyleSLIM(AdversarialTrainer):
    """AdvStyle's adversary (``advstyle``), SLIM objective."""
    adversary_name, use_slim = "advstyle", True


@TRAINER_REGISTRY.register()
class PGD(AdversarialTrainer):
    """PGD in the L_inf ball (``pgd``) as the augmentation, plain objective."""
    adversary_name, use_slim = "pgd", False


@TRAINER_REGISTRY.register()
class PGDSLIM(AdversarialTrainer):
    """PGD in the L_inf ball (``pgd``) as the augmentation, SLIM objective."""
    adversary_name, use_slim = "pgd", True


@TRAINER_REGISTRY.register()
class FeatAdvStyle(AdversarialTrainer):
    """Feature-statistics adversary (``feat_advstyle``), plain objective."""
    adversary_name, use_slim = "feat_advstyle", False


@TRAINER_REGISTRY.register()
class FeatAdvStyleSLIM(AdversarialTrainer):
    """Feature-statistics adversary (``feat_advstyle``), SLIM objective."""
    adversary_name, use_slim = "feat_advstyle", True
