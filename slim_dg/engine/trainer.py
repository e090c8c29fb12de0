"""``DGTrainer``: builds data, model and optimizer from the config and runs one step.

A method subclasses it and implements ``compute_losses``; it builds no optimizer and steps no
scheduler. The single ``run_step`` sums the losses, checks they are finite, and steps.
"""
from __future__ import annotations

import itertools
import logging

import torch

from ..config.hashing import config_hash
from ..data.build import build_data_loaders, build_dataset
from ..evaluation import evaluate_domains
from ..modeling import build_model
from .checkpoint import get_rng_state, set_rng_state
from .hooks import build_hooks
from .optim import build_lr_scheduler, build_optimizer
from .train_loop import TrainerBase

logger = logging.getLogger(__name__)


class DGTrainer(TrainerBase):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.device = torch.device("cuda" if cfg.USE_CUDA and torch.cuda.is_available() else "cpu")
        self.dataset = build_dataset(cfg)
        self.train_loader, self.val_loaders, self.test_loaders = build_data_loaders(cfg, self.dataset)
        logger.info("Data: %d training images from %s; source val %s; targets %s", len(self.dataset.train_x),
                    cfg.DATASET.SOURCE_DOMAINS, {d: len(v) for d, v in self.dataset.val.items()},
                    {d: len(v) for d, v in self.dataset.test.items()})
        self.model = build_model(cfg, self.dataset.num_classes).to(self.device)
        self.optimizer = build_optimizer(cfg, self.model.parameters())
        self.scheduler = build_lr_scheduler(cfg, self.optimizer)
        self.iters_per_epoch = len(self.train_loader)
        if cfg.TRAIN.MAX_ITERS_PER_EPOCH > 0:
            self.iters_per_epoch = min(self.iters_per_epoch, cfg.TRAIN.MAX_ITERS_PER_EPOCH)
        self.last_eval: dict = {}
        self.skipped_images = 0  # unreadable training images left out (DATALOADER.ON_BAD_IMAGE skip)
        self.register_hooks(build_hooks(cfg, cfg.OUTPUT_DIR))

    # -- what a method implements -------------------------------------------------------------
    def compute_losses(self, batch: dict) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    # -- the loop ------------------------------------------------------------------------------
    def epoch_batches(self):
        sampler = self.train_loader.sampler
        sampler.set_epoch(self.epoch)
        sampler.set_start(self.step_in_epoch * self.train_loader.batch_size)
        return itertools.islice(self.train_loader, max(0, self.iters_per_epoch - self.step_in_epoch))

    def run_step(self, batch: dict) -> dict[str, float]:
        assert self.model.training, "run_step needs the model in train mode"
        self.skipped_images += int(batch.pop("skipped", 0))
        if "img" not in batch:  # every image of the batch was unreadable (and skipped)
            return {}
        batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        losses = self.compute_losses(batch)
        total = sum(losses.values())
        if not torch.isfinite(total):
            raise FloatingPointError(f"Loss became non-finite at iteration {self.iter} (epoch {self.epoch + 1}): "
                                     f"{ {k: v.item() for k, v in losses.items()} }")
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        return {"loss": total.detach(), **{k: v.detach() for k, v in losses.items()}}

    def evaluate(self) -> dict[str, dict]:
        """Per-domain accuracy on every target domain and every source validation split."""
        self.last_eval = {"target": evaluate_domains(self.model, self.test_loaders, self.device),
                          "source_val": evaluate_domains(self.model, self.val_loaders, self.device)}
        return self.last_eval

    # -- checkpoint state (plain types and tensors only: loadable with weights_only=True) ------
    def state_dict(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "epoch": self.epoch if self.finished else self.epoch + (self.step_in_epoch == self.iters_per_epoch),
            "step_in_epoch": 0 if self.finished or self.step_in_epoch == self.iters_per_epoch else self.step_in_epoch,
            "iter": self.iter,
            "skipped_images": self.skipped_images,
            "rng": get_rng_state(),
            "config_hash": config_hash(self.cfg),
            "hooks": {type(h).__name__: h.state_dict() for h in self.hooks if h.state_dict()},
            "extra": self.extra_state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.step_in_epoch, self.iter = state["epoch"], state["step_in_epoch"], state["iter"]
        self.skipped_images = state.get("skipped_images", 0)
        for h in self.hooks:
            if type(h).__name__ in state.get("hooks", {}):
                h.load_state_dict(state["hooks"][type(h).__name__])
        self.load_extra_state_dict(state.get("extra", {}))
        set_rng_state(state["rng"])  # last: nothing above may draw from it

    def extra_state_dict(self) -> dict:
        """State of a method beyond model/optimizer (e.g. an adversary's RNG); plain types only."""
        return {}

    def load_extra_state_dict(self, state: dict) -> None: ...
