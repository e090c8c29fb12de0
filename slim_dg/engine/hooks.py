"""One small hook per concern; ``default_hooks`` puts them together in a meaningful order.

Under DDP every process runs the same hooks, except that only the main process writes: the writer
exists there alone, and checkpoints are assembled by all (the state gathers every process's random
state) but saved by the main process. Evaluation runs in every process (each on its shard).
"""
from __future__ import annotations

import datetime
import logging
import os
import signal
import threading
import time

from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from ..utils.distributed import any_process, is_distributed, is_main_process
from .checkpoint import (BEST, CHECKPOINT_DIR, BackgroundCheckpointWriter, checkpoint_name, prune_checkpoints,
                         save_checkpoint)
from .results import ResultsHook
from .train_loop import HookBase

logger = logging.getLogger(__name__)


class LRSchedulerHook(HookBase):
    """Steps the epoch-wise LR schedule."""

    def after_epoch(self) -> None:
        self.trainer.scheduler.step()


class CheckpointHook(HookBase):
    """Saves after every epoch and every ``period`` steps within one (0: epoch ends only), keeps the
    newest ``keep``, and ``save_best`` writes ``model-best.pt``. Files are written atomically; during
    training from a background thread (``BackgroundCheckpointWriter``), all of them written before
    training returns, also after a signal or an error."""

    def __init__(self, output_dir: str, period: int, keep: int):
        self.output_dir = output_dir
        self.period = period
        self.keep = keep
        self.writer = BackgroundCheckpointWriter()
        self.training = False  # outside training (e.g. the final evaluation of a resumed run) saves in place

    def save(self, name: str, then=None) -> str:
        path = os.path.join(self.output_dir, CHECKPOINT_DIR, name)
        state = self.trainer.state_dict()  # in every process: a collective under DDP
        if is_main_process():
            def done() -> None:
                logger.info("Saved checkpoint %s", path)
                if then is not None:
                    then()

            if self.training:
                self.writer.submit(state, path, then=done)
            else:
                self.writer.wait()
                save_checkpoint(state, path)
                done()
        return path

    def save_periodic(self) -> None:
        self.save(checkpoint_name(*self.trainer.resume_point()),
                  then=lambda: prune_checkpoints(self.output_dir, self.keep))

    def before_train(self) -> None:
        self.training = True

    def after_train(self) -> None:
        self.training = False
        self.writer.wait()  # every checkpoint on disk before the run goes on (evaluation, exit)

    def after_step(self) -> None:
        t = self.trainer
        # the last step of an epoch is saved by after_epoch, once the LR schedule has stepped
        if self.period > 0 and t.step_in_epoch % self.period == 0 and t.step_in_epoch < t.iters_per_epoch:
            self.save_periodic()

    def after_epoch(self) -> None:
        self.save_periodic()


class EvalHook(HookBase):
    """Evaluates every ``period`` epochs (0: never during training) and once after the last
    epoch of a run that finished, never after a crash; keeps ``model-best.pt`` by mean
    source-validation accuracy when the run has source validation data.

    ``history`` holds one entry per evaluation, ``{"epoch", "target", "source_val"}`` (epochs
    done, per-domain metrics), so a model can be selected afterwards (``results.json``). It is
    part of the checkpoint; an epoch's checkpoint is written before that epoch is evaluated, so
    a run resumed from it evaluates first what the checkpoint lacks.
    """

    def __init__(self, period: int, writer: "WriterHook | None" = None, checkpointer: CheckpointHook | None = None):
        self.period = period
        self.writer = writer
        self.checkpointer = checkpointer
        self.best = -1.0
        self.history: list[dict] = []

    def _due(self, epochs_done: int) -> bool:
        """Whether training evaluates after this many epochs (the last one is evaluated in after_train)."""
        return self.period > 0 and epochs_done % self.period == 0 and epochs_done < self.trainer.max_epoch

    def evaluate(self, epochs_done: int) -> dict:
        results = self.trainer.evaluate()
        for part, per_domain in results.items():
            logger.info("Epoch %d %s: %s", epochs_done, part,
                        ", ".join(f"{d} {m['accuracy']:.2f}%" for d, m in per_domain.items()))
            if self.writer is not None:
                for d, m in per_domain.items():
                    self.writer.scalar(f"{part}/{d}", m["accuracy"])
        # plain types only: the history is saved in checkpoints loaded with weights_only=True
        self.history.append({"epoch": int(epochs_done),
                             **{part: {d: dict(m) for d, m in results[part].items()}
                                for part in ("target", "source_val")}})
        val = results["source_val"]
        if val and self.checkpointer is not None:
            score = sum(m["accuracy"] for m in val.values()) / len(val)
            if score > self.best:
                self.best = score
                self.checkpointer.save(BEST)
        return results

    def before_train(self) -> None:
        t = self.trainer  # a resumed run: ``epoch`` epochs and ``step_in_epoch`` steps are done
        done = t.epoch
        if t.step_in_epoch == 0 and done > 0 and self._due(done) and \
                not any(h["epoch"] == done for h in self.history):
            logger.info("Resumed from the end of epoch %d, before its evaluation: evaluating it now", done)
            self.evaluate(done)

    def after_epoch(self) -> None:
        if self._due(self.trainer.epoch + 1):
            self.evaluate(self.trainer.epoch + 1)

    def after_train(self) -> None:
        if self.trainer.finished:
            self.evaluate(self.trainer.epoch)

    def state_dict(self) -> dict:
        return {"best": self.best, "history": self.history}

    def load_state_dict(self, state: dict) -> None:
        self.best = state["best"]
        self.history = list(state.get("history", []))  # checkpoints written before the history existed


class SignalHook(HookBase):
    """SIGINT/SIGTERM finish the current step, save a checkpoint and exit, so ``--resume`` continues.
    Under DDP the processes agree whether any of them got one (torchrun forwards the signal to each,
    but not at the same instant), so all stop at the same step. That agreement is a collective, a
    device synchronisation: it is asked every ``period`` steps and at every epoch's end, not every step."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, checkpointer: CheckpointHook, period: int = 1):
        self.checkpointer = checkpointer
        self.period = max(1, period)
        self.received: int | None = None
        self.previous: dict = {}

    def _handler(self, signum, frame) -> None:
        self.received = signum
        logger.warning("Received %s: stopping after this step", signal.Signals(signum).name)

    def before_train(self) -> None:
        if threading.current_thread() is threading.main_thread():  # handlers can only be set there
            self.previous = {s: signal.signal(s, self._handler) for s in self.SIGNALS}

    def _stop(self) -> bool:
        return any_process(self.received is not None, self.trainer.device)

    def _exit(self) -> SystemExit:
        return SystemExit(128 + (self.received if self.received is not None else signal.SIGTERM))

    def after_step(self) -> None:
        t = self.trainer
        due = not is_distributed() or t.iter % self.period == 0  # one process: a free check, every step
        if due and t.step_in_epoch < t.iters_per_epoch and self._stop():
            self.checkpointer.save_periodic()
            raise self._exit()

    def after_epoch(self) -> None:
        if self._stop():  # the checkpointer has just saved the finished epoch
            raise self._exit()

    def after_train(self) -> None:
        for s, h in self.previous.items():
            signal.signal(s, h)


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
        self.bar = tqdm(total=t.iters_per_epoch, initial=t.step_in_epoch, desc=f"epoch {t.epoch + 1}/{t.max_epoch}", leave=False,
                        disable=None, dynamic_ncols=True)

    def after_step(self) -> None:
        t = self.trainer
        if self.bar is not None:
            self.bar.update(1)
        if not t.step_outputs or (t.iter % self.print_freq and t.step_in_epoch < t.iters_per_epoch):
            return
        losses = {k: v.item() for k, v in t.step_outputs.items()}
        lr = t.optimizer.param_groups[0]["lr"]
        for k, v in losses.items():
            self.scalar(f"train/{k}", v)
        self.scalar("train/lr", lr)
        done = t.iter - self.start_iter
        left = t.iters_per_epoch * (t.max_epoch - t.epoch) - t.step_in_epoch
        eta = (time.perf_counter() - self.start_time) / done * left
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{losses['loss']:.3f}")
        logger.info("epoch %d/%d iter %d/%d  %s  lr %.2e  eta %s", t.epoch + 1, t.max_epoch,
                    t.step_in_epoch, t.iters_per_epoch,
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


def default_hooks(cfg, output_dir: str) -> list[HookBase | None]:
    """Every trainer's hooks, in the order they run; ``None`` where a hook does not apply."""
    writer = WriterHook(output_dir, cfg.TRAIN.PRINT_FREQ) if is_main_process() else None
    checkpointer = CheckpointHook(output_dir, cfg.TRAIN.CHECKPOINT_FREQ, cfg.TRAIN.CHECKPOINT_KEEP)
    evaluator = EvalHook(cfg.TRAIN.EVAL_FREQ, writer, checkpointer)
    return [
        LRSchedulerHook(),
        # checkpoint after the LR step (a resumed run continues with the right LR) and before
        # evaluating, so a crash in evaluation never loses the epoch's weights
        checkpointer,
        evaluator,
        # after the final evaluation, which it reports
        ResultsHook(evaluator),
        # after the checkpointer: a signal at an epoch's end is saved once the epoch is complete
        SignalHook(checkpointer, cfg.TRAIN.PRINT_FREQ),
        # the writer last: it closes TensorBoard after everyone has logged
        writer,
    ]
