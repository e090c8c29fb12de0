"""What a run reports (DESIGN §5): ``results.json`` from a trainer and its evaluations.

``ResultsHook`` writes it when training ends (after the ``EvalHook``'s final evaluation);
``--eval-only`` writes it from its one evaluation (``DGTrainer.test``). Under DDP every process
assembles it (the skipped-image count is summed over them) and only the main process writes.
"""
from __future__ import annotations

import logging
import time

from ..data.class_sets import class_counts
from ..evaluation import format_table, make_results, write_results
from ..evaluation.provenance import make_provenance
from ..utils.distributed import all_reduce_sum, get_world_size, is_main_process
from .train_loop import HookBase

logger = logging.getLogger("slim_dg.train")


def run_provenance(trainer) -> dict | None:
    """How the run was made (main process only; None in the others)."""
    if not is_main_process():
        return None
    return make_provenance(trainer.cfg, trainer.device, trainer.amp_dtype, trainer.dataset, get_world_size())


def write_run_results(trainer, history: list[dict], provenance: dict | None, started: float) -> dict:
    """``results.json``: the last of ``history`` (``{"epoch", "target", "source_val"}`` entries) is
    the final evaluation. Returns its content (in every process)."""
    cfg, final = trainer.cfg, history[-1]
    res = make_results(cfg, final["target"], final["source_val"], trainer.epoch, history)
    res.update(class_counts(cfg, trainer.dataset))  # num_classes_seen per domain (and unseen-class images)
    skipped = all_reduce_sum([trainer.skipped_images], trainer.device)[0]  # each process read its own shard
    if skipped:
        res["skipped_train_images"] = skipped
    relabelled = len(getattr(trainer.dataset, "relabelled", ()))  # split-list lines given their folder's label
    if relabelled:
        res["relabelled"] = relabelled
    if is_main_process():
        res["provenance"] = provenance
        path = write_results(cfg.OUTPUT_DIR, res)
        logger.info("Done in %.1f s. Per-domain accuracy (%s):\n%s", time.perf_counter() - started, path,
                    format_table(res))
    return res


class ResultsHook(HookBase):
    """Writes ``results.json`` once a run has trained to its end (never after a crash or a stop),
    from ``evaluator``'s history; sets ``trainer.results``. Runs after the ``EvalHook``, whose
    ``after_train`` makes the final evaluation."""

    def __init__(self, evaluator):
        self.evaluator = evaluator
        self.provenance: dict | None = None
        self.started = 0.0

    def before_train(self) -> None:
        self.started = time.perf_counter()
        self.provenance = run_provenance(self.trainer)  # before any step: a surprise costs no training time

    def after_train(self) -> None:
        if self.trainer.finished:
            self.trainer.results = write_run_results(self.trainer, self.evaluator.history, self.provenance,
                                                     self.started)
