"""No target domain = leave-one-domain-out (DESIGN §4).

``tools/train.py`` with no ``--target-domains`` and no ``DATASET.TARGET_DOMAINS`` holds out each
domain of the dataset in turn, the others as sources, all with the same seed. Each target is an
ordinary run directory (``config.yaml``, checkpoints, ``results.json``), so ``--resume``,
``--eval-only``, ``tools/collect.py`` and the sweep work on it unchanged:

- with ``--output-dir OUT`` (or ``OUTPUT_DIR``): target ``D`` in ``OUT/D/``, the summary in
  ``OUT/lodo.json``;
- without: each target's default dir ``output/<dataset>/<trainer>/D/seed<N>``, the summary beside
  them in ``output/<dataset>/<trainer>/lodo_seed<N>.json``.

Each target is a sweep ``Run``: its state (done, resume, restart, start, conflict) is the sweep's
``run_state``, so running the same command again skips the finished targets and resumes an
interrupted one. The targets run one after another in this process (under ``torchrun``: in every
process, each through ``launch.run_single``); Ctrl-C stops after the current target's
checkpoint is saved.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics

from ..config import ConfigError
from ..data import DATASET_REGISTRY
from ..sweep.execution import clear_stale, train_argv
from ..sweep.runs import Run
from ..sweep.state import CONFLICT, DONE, RESTART, START, finished_results, resolve_config, run_state
from ..utils.distributed import barrier, destroy_distributed, init_distributed, is_main_process
from ..utils.logger import setup_logging
from .argv_config import merge_args, parse_args, setup_cfg
from .launch import run_single
from .output_dir import default_output_dir

logger = logging.getLogger("slim_dg.lodo")
SUMMARY_FILE = "lodo.json"


def lodo_domains(args: argparse.Namespace) -> tuple[str, ...]:
    """The domains to hold out in turn, or ``()`` when this is a single run (a target is given, or
    ``--resume``/``--eval-only`` name one run, or the dataset fixes its own split, as WILDS does)."""
    if args.resume or args.eval_only or args.target_domains:
        return ()
    cfg = merge_args(args)
    if cfg.DATASET.TARGET_DOMAINS:
        return ()
    dataset_cls = DATASET_REGISTRY.get(cfg.DATASET.NAME)  # KeyError listing the datasets
    if getattr(dataset_cls, "default_domains", None) is not None:
        return ()
    discover = getattr(dataset_cls, "domains_from_config", None)
    domains = tuple(discover(cfg)) if discover else tuple(dataset_cls.domains)
    if domains and cfg.DATASET.SOURCE_DOMAINS:
        raise ConfigError(f"Source domains {list(cfg.DATASET.SOURCE_DOMAINS)} but no target: pass --target-domains "
                          f"too, or neither for leave-one-domain-out over {', '.join(domains)}")
    return domains


def lodo_runs(args: argparse.Namespace, domains: tuple[str, ...]) -> tuple[list[Run], str]:
    """One ``Run`` per held-out domain, and where the summary goes."""
    cfg = merge_args(args)
    out = cfg.OUTPUT_DIR  # --output-dir, or the config's
    overrides = (*(["DATASET.ROOT", args.root] if args.root else []), *args.opts)
    config_file = os.path.abspath(args.config_file) if args.config_file else ""
    runs = [Run(config_file, cfg.DATASET.NAME, "", "", tuple(overrides), d, cfg.SEED,
                os.path.join(out, d) if out else default_output_dir(cfg, [d]), os.getcwd(), tuple(args.plugin))
            for d in domains]
    summary = (os.path.join(out, SUMMARY_FILE) if out else
               os.path.join("output", cfg.DATASET.NAME, cfg.TRAINER.NAME, f"lodo_seed{cfg.SEED}.json"))
    return runs, summary


def plan(runs: list[Run], overwrite: bool) -> list[str]:
    """Each run's state; every target's config is built and validated here, before any work."""
    states = []
    for run in runs:
        state, why = run_state(run, resolve_config(run))
        if overwrite and state != START:
            state = RESTART  # --overwrite: train every target again, into its existing dir
        elif state == CONFLICT:
            raise ConfigError(f"Leave-one-domain-out target {run.target}: {why} (or pass --overwrite)")
        states.append(state)
    return states


def summarize(runs: list[Run], results: dict[str, dict]) -> dict:
    first = next(iter(results.values()))
    targets = {r.target: {k: results[r.target]["target"][r.target][k] for k in ("accuracy", "num_samples")}
               for r in runs}
    return {"dataset": first["dataset"], "trainer": first["trainer"], "seed": first["seed"], "targets": targets,
            "avg": statistics.fmean(t["accuracy"] for t in targets.values())}


def format_summary(summary: dict) -> str:
    """The held-out accuracy of each domain and their average, as one table."""
    width = max([len(d) for d in summary["targets"]] + [len("held out")])
    lines = [f"{'held out':<{width}}  {'acc (%)':>7}  {'n':>6}", "-" * (width + 17)]
    lines += [f"{d:<{width}}  {m['accuracy']:7.2f}  {m['num_samples']:6d}" for d, m in summary["targets"].items()]
    lines += ["-" * (width + 17), f"{'Avg':<{width}}  {summary['avg']:7.2f}"]
    return "\n".join(lines)


def _first_missing(path: str) -> str | None:
    """The topmost folder of ``path`` that does not exist yet (what this run would create), or None."""
    path, missing = os.path.abspath(path), None
    while not os.path.exists(path):
        path, missing = os.path.dirname(path), path
    return missing


def run_lodo(args: argparse.Namespace, domains: tuple[str, ...]) -> dict:
    """Train (or resume, or skip) every held-out domain, then write and print the summary."""
    runs, summary_path = lodo_runs(args, domains)
    states = plan(runs, args.overwrite)
    cfg = resolve_config(runs[0])
    created = _first_missing(os.path.dirname(summary_path) or ".")
    distributed = init_distributed(cfg.USE_CUDA)
    main_process = is_main_process()
    try:
        barrier()  # every process has read the states before any target dir changes
        setup_logging(None, logging.INFO if main_process else logging.WARNING)
        todo = sum(s != DONE for s in states)
        logger.info("Leave-one-domain-out on %s: %d targets (%s), %d done, %d to run; summary: %s",
                    cfg.DATASET.NAME, len(runs), ", ".join(domains), len(runs) - todo, todo, summary_path)
        results = {}
        for run, state in zip(runs, states):
            if state == DONE:
                logger.info("Target %s: already done (%s)", run.target, run.run_dir)
                results[run.target] = finished_results(run)
                continue
            if state == RESTART and main_process:
                clear_stale(run.run_dir)
            logger.info("Target %s: %s in %s", run.target, state, run.run_dir)
            target_args = parse_args(train_argv(run, state))
            try:
                results[run.target] = run_single(target_args, setup_cfg(target_args))
            except SystemExit:  # Ctrl-C / SIGTERM: the target saved a checkpoint
                setup_logging(None, logging.INFO if main_process else logging.WARNING)
                logger.warning("Stopped during target %s; run the same command again to resume it", run.target)
                raise
    except BaseException:
        # a run that failed before anything was written (bad input, no data, no weights) leaves no folder
        if main_process and created and not any(files for _, _, files in os.walk(created)):
            shutil.rmtree(created, ignore_errors=True)
        raise
    finally:
        if distributed:
            destroy_distributed()
    summary = summarize(runs, results)
    if main_process:
        setup_logging(None)
        tmp = summary_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(summary, f, indent=2)
        os.replace(tmp, summary_path)
        logger.info("Leave-one-domain-out, %s, %s, seed %d (%s):\n%s", summary["dataset"], summary["trainer"],
                    summary["seed"], summary_path, format_summary(summary))
    return summary
