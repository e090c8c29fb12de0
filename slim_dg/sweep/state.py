"""Where a run stands, read from its directory only (no state file of the sweep's own).

- ``done``: a ``results.json`` that follows the schema and is this run's (target and seed);
- ``resume``: a ``config.yaml`` and at least one periodic checkpoint: ``train.py --resume DIR``
  continues from the newest readable one;
- ``restart``: something is there but nothing to resume from (a crash before the first
  checkpoint): started over with ``--overwrite``;
- ``start``: nothing there yet;
- ``conflict``: the run finished or started with a different config than the sweep asks for now
  (the message names the keys); it is left alone, because neither skipping it nor resuming it
  would give the requested run;
- ``busy``: another process holds the run's lock (``utils.run_lock``): running elsewhere, left alone.
"""
from __future__ import annotations

import os

from yacs.config import CfgNode as CN

from ..config import ConfigError, get_cfg_defaults, merge_from_file
from ..config.hashing import config_diff
from ..engine.checkpoint import list_checkpoints
from ..evaluation.results import RESULTS_FILE, read_results
from ..utils.run_lock import is_empty_run_dir
from .runs import Run

DONE, START, RESUME, RESTART, CONFLICT, BUSY = "done", "start", "resume", "restart", "conflict", "busy"
STATES = (DONE, START, RESUME, RESTART, CONFLICT, BUSY)


def resolve_config(run: Run) -> CN:
    """The config ``train.py`` will build for this run (validated: bad input fails here, before anything runs)."""
    from ..engine.argv_config import parse_args, setup_cfg

    return setup_cfg(parse_args(run.train_args()))


def finished_results(run: Run) -> dict | None:
    """The run's valid ``results.json``, or None (missing, unreadable, or another run's)."""
    path = os.path.join(run.run_dir, RESULTS_FILE)
    if not os.path.isfile(path):
        return None
    try:
        res = read_results(path)
    except ValueError:
        return None
    return res if res["target_domains"] == [run.target] and res["seed"] == run.seed else None


def _saved_config_diff(run: Run, cfg: CN) -> list[str]:
    saved = os.path.join(run.run_dir, "config.yaml")
    if not os.path.isfile(saved):
        return []
    old = get_cfg_defaults()
    try:
        merge_from_file(old, saved)
    except ConfigError as e:
        return [f"its config.yaml does not load ({e})"]
    return config_diff(old, cfg)


def run_state(run: Run, cfg: CN | None = None) -> tuple[str, str]:
    """``(state, why)``; with ``cfg`` (``resolve_config(run)``), a run made with another config is a conflict."""
    results = finished_results(run)
    has_checkpoint = bool(list_checkpoints(run.run_dir)) and os.path.isfile(os.path.join(run.run_dir, "config.yaml"))
    if (results is not None or has_checkpoint) and cfg is not None:
        diff = _saved_config_diff(run, cfg)
        if diff:
            return CONFLICT, (f"{run.run_dir} was run with another config ({'; '.join(diff)}); "
                              "delete it or sweep into another --output-dir")
    if results is not None:
        return DONE, "valid results.json"
    if has_checkpoint:
        return RESUME, "checkpoint, no results.json"
    if os.path.isdir(run.run_dir) and not is_empty_run_dir(run.run_dir):
        return RESTART, "no checkpoint to resume from"
    return START, ""
