"""One small hook per concern; ``build_hooks`` puts them together in a meaningful order."""
from __future__ import annotations

import datetime
import glob
import logging
import os
import time

import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from .train_loop import HookBase

logger = logging.getLogger(__name__)
CHECKPOINT_DIR = "checkpoints"


class LRSchedulerHook(HookBase):
    """Steps the epoch-wise LR schedule."""

    def after_epoch(self) -> None:
        self.trainer.scheduler.step()


class CheckpointHook(HookBase):
    """Saves ``checkpoints/model-epochN.pt`` every ``period`` epochs and after the last one,
    written to a temporary file and renamed, so a killed run never leaves a truncated checkpoint."""

    def __init__(self, output_dir: str, period: int):
        self.dir = os.path.join(output_dir, CHECKPOINT_DIR)
        self.period = period

    def after_epoch(self) -> None:
        done = self.trainer.epoch + 1
        if (self.period > 0 and done % self.period == 0) or done == self.trainer.max_epoch:
            self.save(f"model-epoch{done}.pt")

    def save(self, name: str) -> str:
        os.makedirs(self.dir, exist_ok=True)
        path = os.path.join(self.dir, name)
        torch.save(self.trainer.state_dict(), path + ".tmp")
        os.replace(path + ".tmp", path)
        logger.info("Saved checkpoint %s", path)
        return path


def latest_checkpoint(output_dir: str) -> str | None:
    paths = glob.glob(os.path.join(output_dir, CHECKPOINT_DIR, "model-epoch*.pt"))
    return max(paths, key=lambda p: int(p.rsplit("epoch", 1)[1][:-3])) if paths else None


class EvalHook(HookBase):
    """Evaluates every ``period`` epochs (0: never during training) and once after the last
    epoch of a run that finished; never after a crash."""

    def __init__(self, period: int, writer: "WriterHook | None" = None):
        self.period = period
        self.writer = writer

    def _evaluate(self) -> None:
        results = self.trainer.evaluate()
        for part, per_domain in results.items():
            logger.info("Epoch %d %s: %s", self.trainer.epoch + (0 if self.trainer.finished else 1), part,
                        ", ".join(f"{d} {m['accuracy']:.2f}%" for d, m in per_domain.items()))
            if self.writer is not None:
                for d, m in per_domain.items():
                    self.writer.scalar(f"{part}/{d}", m["accuracy"])

    def after_epoch(self) -> None:
        done = self.trainer.epoch + 1
        if self.period > 0 and done % self.period == 0 and done < self.trainer.max_epoch:
            self._evaluate()

    def after_train(self) -> None:
        if self.trainer.finished:
            self._evaluate()


class WriterHook(HookBase):
    """Progress bar, periodic log line with ETA, and TensorBoard scalars."""

    def __init__(self, output_dir: str, print_freq: int):
        self.output_dir = output_dir
        self.print_freq = max(1, print_freq)
        self.tb: SummaryWriter | None = None
        self.bar: tqdm | None = None

    def scalar(self, tag: str, value: float) -> None:
        if self.tb is not None:
            self.tb.add_scalar(tag, value, self.trainer.iter)

    def before_train(self) -> None:
        self.tb = SummaryWriter(log_dir=os.path.join(self.output_dir, "tensorboard"))
        self.start_time, self.start_iter = time.perf_counter(), self.trainer.iter

    def before_epoch(self) -> None:
        t = self.trainer
        # disable=None: no bar when stdout is not a terminal (CI logs stay readable)
        self.bar = tqdm(total=t.iters_per_epoch, desc=f"epoch {t.epoch + 1}/{t.max_epoch}", leave=False,
                        disable=None, dynamic_ncols=True)

    def after_step(self) -> None:
        t = self.trainer
        if self.bar is not None:
            self.bar.update(1)
        if (t.iter + 1) % self.print_freq and (t.iter + 1) % t.iters_per_epoch:
            return
        losses = {k: v.item() for k, v in t.step_outputs.items()}
        lr = t.optimizer.param_groups[0]["lr"]
        for k, v in losses.items():
            self.scalar(f"train/{k}", v)
        self.scalar("train/lr", lr)
        done = t.iter + 1 - self.start_iter
        left = t.iters_per_epoch * t.max_epoch - (t.iter + 1)
        eta = (time.perf_counter() - self.start_time) / done * left
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{losses['loss']:.3f}")
        logger.info("epoch %d/%d iter %d/%d  %s  lr %.2e  eta %s", t.epoch + 1, t.max_epoch,
                    t.iter % t.iters_per_epoch + 1, t.iters_per_epoch,
                    "  ".join(f"{k} {v:.4f}" for k, v in losses.items()), lr,
                    datetime.timedelta(seconds=int(eta)))

    def after_epoch(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def after_train(self) -> None:
        self.after_epoch()
        if self.tb is not None:
            self.tb.close()


def build_hooks(cfg, output_dir: str) -> list[HookBase | None]:
    writer = WriterHook(output_dir, cfg.TRAIN.PRINT_FREQ)
    return [
        LRSchedulerHook(),
        # checkpoint before evaluating, so a crash in evaluation never loses the epoch's weights
        CheckpointHook(output_dir, cfg.TRAIN.CHECKPOINT_FREQ),
        EvalHook(cfg.TRAIN.EVAL_FREQ, writer),
        # the writer last: it closes TensorBoard after everyone has logged
        writer,
    ]
