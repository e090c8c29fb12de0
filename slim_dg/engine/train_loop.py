"""The bare training loop and its extension points (after detectron2's HookBase/TrainerBase).

``TrainerBase.train`` only iterates epochs and steps and calls hooks; what a step does is
``run_step``, and everything else (LR schedule, evaluation, checkpoints, logging) is a hook.
"""
from __future__ import annotations

import logging
import weakref

logger = logging.getLogger(__name__)


class HookBase:
    """Override any of these; ``before_step`` must stay cheap, slow work goes in ``after_step``."""

    trainer: "TrainerBase"

    def before_train(self) -> None: ...
    def after_train(self) -> None: ...
    def before_epoch(self) -> None: ...
    def after_epoch(self) -> None: ...
    def before_step(self) -> None: ...
    def after_step(self) -> None: ...

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None: ...


class TrainerBase:
    def __init__(self) -> None:
        self.hooks: list[HookBase] = []
        self.epoch = 0  # current epoch (0-based) while training; number of finished epochs after
        self.max_epoch = 0
        self.iter = 0  # global step counter
        self.step_outputs: dict = {}
        self.finished = False

    def register_hooks(self, hooks: list[HookBase | None]) -> None:
        """``None`` entries are dropped, so builders can write ``Hook() if enabled else None``."""
        for h in hooks:
            if h is None:
                continue
            h.trainer = weakref.proxy(self)  # hooks must not keep the trainer alive
            self.hooks.append(h)

    def train(self, start_epoch: int, max_epoch: int) -> None:
        self.epoch, self.max_epoch = start_epoch, max_epoch
        logger.info("Training from epoch %d to %d", start_epoch + 1, max_epoch)
        try:
            self._call("before_train")
            for self.epoch in range(start_epoch, max_epoch):
                self._call("before_epoch")
                for batch in self.epoch_batches():
                    self._call("before_step")
                    self.step_outputs = self.run_step(batch)
                    self._call("after_step")
                    self.iter += 1
                self._call("after_epoch")
            self.epoch = max_epoch
            self.finished = True
        finally:
            # runs after a crash too, so writers flush; hooks check ``finished`` before evaluating
            self._call("after_train")

    def _call(self, name: str) -> None:
        for h in self.hooks:
            getattr(h, name)()

    def epoch_batches(self):
        raise NotImplementedError

    def run_step(self, batch) -> dict:
        raise NotImplementedError
