"""Adversarial-robustness trainers: PGD-AT, TRADES, MART, each plain and with SLIM.

``PGDAT``/``TRADES``/``MART`` train with PGD (``ADV.EPS``, ``ADV.STEPS``, ``ADV.STEP_SIZE``,
``ADV.RANDOM_START``, ``ADV.BN_MODE``) ascending the method's inner objective, then the method's
outer loss (``slim_dg.adversarial.robust``). The ``*SLIM`` trainers wrap that inner objective in
SLIM (DESIGN §1): ``J_SLIM = J_method + λ · L_ILL``, so ``SLIM.LAMBDA_MIN = SLIM.LAMBDA_MAX = 0``
reproduces the plain method bit for bit.

Best vs last (Rice et al., 2020): ``RobustValHook`` attacks the held-out validation split with
PGD-``TEST.ROBUST_VAL_STEPS`` after every epoch and keeps the most robust epoch's weights as
``checkpoints/model-best-pgd.pt``; the last are the newest periodic checkpoint.
"""
from __future__ import annotations

import logging
import os
from typing import ClassVar

from ..adversarial.build import build_adversary
from ..adversarial.pgd import pgd_attack
from ..adversarial.robust import build_method, robust_losses
from ..adversarial.slim import SLIM
from ..config.load import ConfigError
from ..evaluation.adversarial import attack_accuracy
from ..utils.distributed import broadcast_buffers, is_main_process, unwrap
from .build import TRAINER_REGISTRY
from .checkpoint import BEST_PGD, CHECKPOINT_DIR, save_checkpoint
from .train_loop import HookBase
from .inner_max import InnerMaxTrainer

logger = logging.getLogger(__name__)


class RobustValHook(HookBase):
    """After each epoch: clean and PGD accuracy on every source-validation split; saves
    ``model-best-pgd.pt`` when the mean PGD accuracy beats the best so far. ``history`` (saved in
    checkpoints) lists ``{"epoch", "val": {split: {"clean", "pgd", "num_samples"}}}``."""

    def __init__(self, output_dir: str, steps: int, seed: int = 0):
        self.output_dir = output_dir
        self.steps = steps
        self.seed = seed
        self.best = -1.0
        self.best_epoch = -1
        self.history: list[dict] = []

    def evaluate(self, epochs_done: int) -> None:
        t = self.trainer
        cfg = t.cfg
        t.check_finite()
        model = unwrap(t.model)
        broadcast_buffers(model, t.device)  # every process attacks with rank 0's BN statistics
        attack = pgd_attack(model, cfg.ADV.EPS, self.steps, cfg.ADV.STEP_SIZE, cfg.INPUT.PIXEL_MEAN,
                            cfg.INPUT.PIXEL_STD)
        val = {}
        for split, loader in t.val_loaders.items():
            r = attack_accuracy(model, loader, {"pgd": attack}, t.device, seed=self.seed)
            val[split] = {"clean": r["clean"]["accuracy"], "pgd": r["pgd"]["accuracy"], "num_samples": r["num_samples"]}
        self.history.append({"epoch": int(epochs_done), "val": val})
        score = sum(v["pgd"] for v in val.values()) / len(val)
        logger.info("Epoch %d validation under PGD-%d: %s", epochs_done, self.steps,
                    ", ".join(f"{s} clean {v['clean']:.2f}% pgd {v['pgd']:.2f}%" for s, v in val.items()))
        if score > self.best:
            self.best, self.best_epoch = score, int(epochs_done)
            state = t.state_dict()  # in every process: a collective under DDP
            if is_main_process():
                path = save_checkpoint(state, os.path.join(self.output_dir, CHECKPOINT_DIR, BEST_PGD))
                logger.info("New best PGD validation accuracy %.2f%% (epoch %d): %s", score, epochs_done, path)

    def before_train(self) -> None:
        t = self.trainer  # resumed after an epoch's checkpoint but before this hook evaluated it
        if t.step_in_epoch == 0 and t.epoch > 0 and not any(h["epoch"] == t.epoch for h in self.history):
            self.evaluate(t.epoch)

    def after_epoch(self) -> None:
        self.evaluate(self.trainer.epoch + 1)

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "history": self.history}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_epoch = state["best"], state.get("best_epoch", -1)
        self.history = list(state.get("history", []))


class RobustTrainer(InnerMaxTrainer):
    method_name: ClassVar[str] = ""
    use_slim: ClassVar[bool] = False
    adversary_name: ClassVar[str] = "pgd"  # fixed: config validation need not ask for ADV.NAME

    @classmethod
    def check_config(cls, cfg) -> None:
        """Refuse the adversarial trainers' keys these trainers do not read: their outer loss decides what
        they train on, in forwards of its own."""
        for key, value, default in (("ADV.TRAIN_ON", cfg.ADV.TRAIN_ON, "clean+adv"),
                                    ("ADV.JOINT_FORWARD", cfg.ADV.JOINT_FORWARD, False)):
            if value != default:
                raise ConfigError(f"{key} {value} does nothing for {cls.__name__}: its outer loss decides which "
                                  f"batches it trains on, in forwards of its own. Leave {key} at {default}.")

    def __init__(self, cfg):
        super().__init__(cfg)
        adversary = build_adversary(self.adversary_name, cfg, self.model)
        self.method = build_method(self.method_name, cfg)
        inner = self.method.inner
        self.set_adversary(adversary, SLIM.from_config(cfg, self.model.backbone, base=inner) if self.use_slim else inner)

    def build_hooks(self):
        *hooks, writer = super().build_hooks()  # the writer stays last
        steps = self.cfg.TEST.ROBUST_VAL_STEPS
        if steps > 0 and not self.val_loaders:
            logger.warning("No validation split (DATASET.VAL_RATIO 0): no best-by-PGD checkpoint is kept")
        return [*hooks, RobustValHook(self.cfg.OUTPUT_DIR, steps, self.cfg.SEED)
                if steps > 0 and self.val_loaders else None, writer]

    def compute_losses(self, batch):
        return robust_losses(self.model, self.adversary, self.objective, self.method, batch["img"], batch["label"])


@TRAINER_REGISTRY.register()
class PGDAT(RobustTrainer):
    """PGD-AT (Madry et al., 2018), plain inner objective."""
    method_name, use_slim = "pgdat", False


@TRAINER_REGISTRY.register()
class PGDATSLIM(RobustTrainer):
    """PGD-AT (Madry et al., 2018), the inner objective wrapped in SLIM."""
    method_name, use_slim = "pgdat", True


@TRAINER_REGISTRY.register()
class TRADES(RobustTrainer):
    """TRADES (Zhang et al., 2019), plain inner objective."""
    method_name, use_slim = "trades", False


@TRAINER_REGISTRY.register()
class TRADESSLIM(RobustTrainer):
    """TRADES (Zhang et al., 2019), the inner objective wrapped in SLIM."""
    method_name, use_slim = "trades", True


@TRAINER_REGISTRY.register()
class MART(RobustTrainer):
    """MART (Wang et al., 2020), plain inner objective."""
    method_name, use_slim = "mart", False


@TRAINER_REGISTRY.register()
class MARTSLIM(RobustTrainer):
    """MART (Wang et al., 2020), the inner objective wrapped in SLIM."""
    method_name, use_slim = "mart", True
