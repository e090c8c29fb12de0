"""SLIM-DG's trainers in Dassl's ``TRAINER_REGISTRY``: ``SLIMDGTrainerX``, a Dassl ``TrainerX`` whose step
is ``slim_dg.adversarial.step.adversarial_losses``, and its registered subclasses ``AdvStyle``,
``AdvStyleSLIM``, ``PGD``, ``PGDSLIM``, ``FeatAdvStyle``, ``FeatAdvStyleSLIM`` and ``Adversarial``."""
from __future__ import annotations

from typing import ClassVar

from dassl.engine import TRAINER_REGISTRY, TrainerX
from dassl.optim import build_optimizer
from dassl.utils import count_num_param, load_pretrained_weights

from ...adversarial.step import adversarial_losses, build_adversary_and_objective, reuses_clean_taps
from ...modeling.backbone import create_timm_backbone
from ...modeling.classifier import Classifier
from .backbones import timm_model_name
from .config import adversary_cfg, check_slim_dg_cfg
from .fixes import build_lr_scheduler
from .registry import _register

__all__ = ["ADVERSARIAL_TRAINERS", "SLIMDGTrainerX", "AdvStyle", "AdvStyleSLIM", "PGD", "PGDSLIM", "FeatAdvStyle",
           "FeatAdvStyleSLIM", "Adversarial"]


def dassl_trainer(cls: type) -> type:
    """Registers ``cls`` in Dassl's ``TRAINER_REGISTRY`` (a class decorator)."""
    _register(TRAINER_REGISTRY, cls)
    return cls


class SLIMDGTrainerX(TrainerX):
    """A Dassl ``TrainerX`` whose step is SLIM-DG's adversarial step (``adversarial_losses``)."""

    adversary_name: ClassVar[str] = ""  # "": from ADV.NAME
    use_slim: ClassVar[bool | None] = None  # None: from SLIM.ENABLED

    def check_cfg(self, cfg):
        check_slim_dg_cfg(cfg)

    def build_model(self):
        """Our Classifier (timm backbone with taps + linear layer), registered with Dassl's optimizer and
        scheduler as "model" (Dassl saves, resumes, steps and evaluates it); then adversary and objective."""
        cfg = self.cfg
        timm_name = timm_model_name(cfg.MODEL.BACKBONE.NAME)
        print(f"Building model: timm '{timm_name}' with feature taps + linear classifier (SLIM-DG)")
        backbone = create_timm_backbone(timm_name, cfg.MODEL.BACKBONE.PRETRAINED, cfg.MODEL.BACKBONE.get("WEIGHTS", ""),
                                        img_size=tuple(cfg.INPUT.SIZE))
        self.model = Classifier(backbone, self.num_classes)
        if cfg.MODEL.INIT_WEIGHTS:
            load_pretrained_weights(self.model, cfg.MODEL.INIT_WEIGHTS)
        self.model.to(self.device)  # one device: nn.DataParallel would hide .backbone and taps
        print(f"# params: {count_num_param(self.model):,}")
        self.optim = build_optimizer(self.model, cfg.OPTIM)
        self.sched = build_lr_scheduler(self.optim, cfg.OPTIM)
        self.register_model("model", self.model, self.optim, self.sched)

        self.adversary, self.objective = build_adversary_and_objective(adversary_cfg(cfg), self.model,
                                                                       self.adversary_name, self.use_slim)
        self.train_on_clean = cfg.ADV.TRAIN_ON == "clean+adv"
        self.reuse_clean_taps = reuses_clean_taps(self.adversary, self.train_on_clean)
        self.joint_forward = cfg.ADV.JOINT_FORWARD
        print(f"Adversary: {type(self.adversary).__name__}; objective: {type(self.objective).__name__}; "
              f"training on {cfg.ADV.TRAIN_ON}")

    def forward_backward(self, batch):
        x, y, _domain = self.parse_batch_train(batch)
        losses = adversarial_losses(self.model, self.adversary, self.objective, x, y, self.train_on_clean,
                                    self.reuse_clean_taps, self.joint_forward)
        loss = sum(losses.values())
        self.model_backward_and_update(loss)  # Dassl's: raises FloatingPointError on a non-finite loss
        if (self.batch_idx + 1) == self.num_batches:
            self.update_lr()
        return {"loss": loss.item()}


@dassl_trainer
class AdvStyle(SLIMDGTrainerX):
    """SLIM-DG in Dassl: advstyle adversary, plain objective."""
    adversary_name, use_slim = "advstyle", False


@dassl_trainer
class AdvStyleSLIM(SLIMDGTrainerX):
    """SLIM-DG in Dassl: advstyle adversary, SLIM objective."""
    adversary_name, use_slim = "advstyle", True


@dassl_trainer
class PGD(SLIMDGTrainerX):
    """SLIM-DG in Dassl: pgd adversary, plain objective."""
    adversary_name, use_slim = "pgd", False


@dassl_trainer
class PGDSLIM(SLIMDGTrainerX):
    """SLIM-DG in Dassl: pgd adversary, SLIM objective."""
    adversary_name, use_slim = "pgd", True


@dassl_trainer
class FeatAdvStyle(SLIMDGTrainerX):
    """SLIM-DG in Dassl: feat_advstyle adversary, plain objective."""
    adversary_name, use_slim = "feat_advstyle", False


@dassl_trainer
class FeatAdvStyleSLIM(SLIMDGTrainerX):
    """SLIM-DG in Dassl: feat_advstyle adversary, SLIM objective."""
    adversary_name, use_slim = "feat_advstyle", True


@dassl_trainer
class Adversarial(SLIMDGTrainerX):
    """SLIM-DG in Dassl: adversary from ADV.NAME, SLIM if SLIM.ENABLED."""


ADVERSARIAL_TRAINERS = tuple(t.__name__ for t in (AdvStyle, AdvStyleSLIM, PGD, PGDSLIM, FeatAdvStyle, FeatAdvStyleSLIM,
                                                  Adversarial))
