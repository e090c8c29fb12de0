"""The ``tools/sweep.py`` command line: LODO sweeps over config files, grid points and seeds.

Every run is checked (config merged and validated, its directory's state read) before anything
starts; the counts are printed, then the runs that are not done are launched. A failed run does
not stop the others; the failures are listed at the end with their logs (exit status 1). A run
that another process is training (a second sweep over the same directory, a Slurm task, a
``train.py`` by hand) is listed as running elsewhere, neither started nor counted as failed.
"""
from __future__ import annotations

import argparse
import collections
import logging
import os
import shlex
import sys

from ..errors import InputError
from ..config.argv import parse_with_config_pairs
from ..utils.logger import setup_logging
from ..utils.plugins import load_plugins
from ..utils.run_lock import probe
from .execution import train_command
from .local import launch_local
from .runs import expand_runs
from .slurm import launch_slurm
from .state import BUSY, CONFLICT, DONE, RESTART, RESUME, START, resolve_config, run_state

logger = logging.getLogger("slim_dg.sweep")
LAUNCHERS = {"local": launch_local, "slurm": launch_slurm, "submitit-local": launch_slurm}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Leave-one-domain-out sweep: one tools/train.py run per config file, grid point, target "
                    "domain and seed, in OUT/<dataset>/<method>[/<grid point>]/<target>/seed<k>. Finished runs "
                    "are skipped, interrupted ones resumed.")
    # Repeating a list flag adds to it (action="extend"): with argparse's default a second --grid
    # silently replaced the first, so "--grid A=1 --grid B=2" swept over B alone.
    p.add_argument("--config-file", nargs="+", action="extend", required=True, metavar="F", help="experiment YAML file(s)")
    p.add_argument("--seeds", nargs="+", action="extend", type=int, metavar="K", help="seeds (default: 1)")
    p.add_argument("--output-dir", required=True, metavar="OUT", help="root of the sweep's run directories")
    p.add_argument("--targets", nargs="+", action="extend", metavar="D", help="only these target domains (default: every domain)")
    p.add_argument("--grid", nargs="+", action="extend", default=[], metavar="KEY=V1,V2",
                   help="config overrides to sweep over (product of all), e.g. SLIM.LOSS=cosine,orthogonal,reverse")
    p.add_argument("--opts", nargs="*", default=[], metavar="KEY VALUE",
                   help="fixed config overrides for every run, e.g. --opts MODEL.BACKBONE.NAME resnet50 "
                        "(KEY VALUE pairs are taken anywhere on the line, with or without --opts)")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="import MODULE first (registers datasets/trainers); passed on to every run")
    p.add_argument("--dry-run", action="store_true", help="list what would run, run nothing")
    p.add_argument("--launcher", choices=sorted(LAUNCHERS), default="local",
                   help="local: a pool of --jobs processes here; slurm: a Slurm job array through submitit; "
                        "submitit-local: the slurm code path with submitit's local executor (for testing)")
    local = p.add_argument_group("local launcher")
    local.add_argument("--jobs", type=int, default=1,
                       help="runs at once; with GPUs, each process gets one GPU via CUDA_VISIBLE_DEVICES, "
                            "round-robin over the visible ones")
    slurm = p.add_argument_group("slurm launcher")
    slurm.add_argument("--partition", default="", help="Slurm partition (default: the cluster's)")
    slurm.add_argument("--gpus-per-job", type=int, default=1)
    slurm.add_argument("--cpus-per-job", type=int, default=4)
    slurm.add_argument("--time", type=int, default=24 * 60, metavar="MINUTES", help="time limit of one run")
    slurm.add_argument("--max-parallel", type=int, default=32, help="array tasks at once (slurm_array_parallelism)")
    slurm.add_argument("--no-wait", action="store_true",
                       help="submit and exit; run the sweep again later to see what is done")
    return p


def plan(runs) -> list[tuple]:
    """``(run, state, why)`` for each run, in order; every run's config is validated here. A run
    that another process holds is ``busy`` and ``why`` names that process."""
    planned = []
    for run in runs:
        cfg = resolve_config(run)
        holder = probe(run.run_dir)
        planned.append((run, BUSY, holder) if holder else (run, *run_state(run, cfg)))
    return planned


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """``KEY VALUE`` pairs may come anywhere (after ``--opts`` or bare), flags before or after them."""
    return parse_with_config_pairs(build_parser(), argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(None)
    try:
        load_plugins(args.plugin)
        seeds = list(dict.fromkeys(args.seeds or [1]))
        runs = expand_runs(args.config_file, seeds, args.output_dir, args.targets, args.grid, args.opts, args.plugin)
        planned = plan(runs)
    except InputError as e:  # bad input: nothing has run
        print(f"error: {e}", file=sys.stderr)
        return 2
    n = collections.Counter(state for _, state, _ in planned)
    logger.info("%d runs: %d done, %d to run (%d new, %d to start over), %d to resume%s%s", len(runs), n[DONE],
                n[START] + n[RESTART], n[START], n[RESTART], n[RESUME],
                f", {n[CONFLICT]} in conflict (not run)" if n[CONFLICT] else "",
                f", {n[BUSY]} running elsewhere" if n[BUSY] else "")
    for run, state, why in planned:
        if state == CONFLICT:
            logger.error("conflict: %s", why)
        elif state == BUSY:
            logger.info("%s: running elsewhere (%s), not started here", run.name, why)
    todo = [run for run, state, _ in planned if state in (START, RESTART, RESUME)]
    if args.dry_run:
        for run, state, _ in planned:
            cmd = shlex.join(["python", *train_command(run, state)[1:]]) if state in (START, RESTART, RESUME) else ""
            logger.info("%-8s %s%s", state, run.run_dir, f"\n           $ {cmd}" if cmd else "")
        return 0
    try:
        outcomes = LAUNCHERS[args.launcher](todo, **_launcher_params(args)) if todo else []
    except InputError as e:  # e.g. --launcher slurm where there is no Slurm
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        logger.error("Interrupted: %s; run the same command again to resume", "the running trainings saved a checkpoint"
                     if args.launcher == "local" else "stopped waiting, submitted tasks go on (scancel stops them)")
        return 130
    if todo and args.launcher == "slurm" and args.no_wait:
        logger.info("Submitted; run the same command again to see what is done")
    failed = [o for o in outcomes if not o.ok]
    # held by another process when planned, or taken by one between planning and starting
    busy = [(run, why) for run, state, why in planned if state == BUSY] + \
           [(o.run, o.holder) for o in outcomes if o.state == BUSY]
    ran = [o for o in outcomes if o.state != BUSY]
    if ran:
        logger.info("Finished %d of %d runs%s", len(ran) - len(failed), len(ran),
                    f"; {len(failed)} FAILED:" if failed else "")
    for o in failed:
        logger.error("  %s  (exit %d)  log: %s", o.run.name, o.returncode, o.run.log_path)
    if busy:
        logger.info("%d run(s) running elsewhere (not started here; run the sweep again once they end):",
                    len(busy))
        for run, holder in busy:
            logger.info("  %s  running elsewhere (%s)", run.name, holder)
    return 1 if failed or n[CONFLICT] else 0


def _launcher_params(args: argparse.Namespace) -> dict:
    if args.launcher == "local":
        return {"jobs": args.jobs}
    return {"folder": os.path.join(args.output_dir, ".submitit", "%j"),
            "cluster": "local" if args.launcher == "submitit-local" else "slurm", "wait": not args.no_wait,
            "partition": args.partition, "gpus_per_job": args.gpus_per_job, "cpus_per_job": args.cpus_per_job,
            "time_min": args.time, "max_parallel": args.max_parallel}
