"""The bare training loop and its extension points (after detectron2's HookBase/TrainerBase).

``TrainerBase.train`` only iterates epochs and steps and calls hooks; what a step does is
``run_step``, and everything else (LR schedule, evaluation, checkpoints, logging) is a hook.
"""
from __future__ import annotations

import logging
import weakref

from ..utils.phases import phase

logger = logging.getLogger(__name__)
_END = object()  # the end of an epoch's batches


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
    """Counters hooks can read: ``epoch`` (0-based, the epoch in progress; after training, the
    number of epochs), ``iter`` (steps done in total) and ``step_in_epoch`` (steps done in this
    epoch); both step counters already count the step that ``after_step`` follows."""

    def __init__(self) -> None:
        self.hooks: list[HookBase] = []
        self.epoch = 0
        self.max_epoch = 0
        self.iter = 0
        self.step_in_epoch = 0
        self.step_outputs: dict = {}
        self.finished = False

    def register_hooks(self, hooks: list[HookBase | None]) -> None:
        """``None`` entries are dropped, so builders can write ``Hook() if enabled else None``."""
        for h in hooks:
            if h is None:
                continue
            h.trainer = weakref.proxy(self)  # hooks must not keep the trainer alive
            self.hooks.append(h)

    def train(self, start_epoch: int, max_epoch: int, start_step: int = 0) -> None:
        """Train epochs ``start_epoch .. max_epoch - 1``, the first one from step ``start_step``."""
        self.max_epoch = max_epoch
        if start_epoch < max_epoch:
            logger.info("Training from epoch %d%s to %d", start_epoch + 1,
                        f" (step {start_step})" if start_step else "", max_epoch)
        else:  # a run resumed after its last epoch, before its final evaluation: the hooks' after_train
            logger.info("Trained to epoch %d already: ending the run", max_epoch)
        try:
            self._call("before_train")
            for self.epoch in range(start_epoch, max_epoch):
                self.step_in_epoch = start_step if self.epoch == start_epoch else 0
                self._call("before_epoch")
                batches = iter(self.epoch_batches())
                while True:
                    with phase("input wait"):
                        batch = next(batches, _END)
                    if batch is _END:
                        break
                    self._call("before_step")
                    with phase("train steps"):
                        self.step_outputs = self.run_step(batch)
                    self.iter += 1
                    self.step_in_epoch += 1
                    self._call("after_step")
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
        """The batches of epoch ``self.epoch`` from step ``self.step_in_epoch`` on."""
        raise NotImplementedError

    def run_step(self, batch) -> dict:
        raise NotImplementedError
