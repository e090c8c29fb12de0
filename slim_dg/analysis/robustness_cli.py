"""``tools/robustness.py --model-dir DIR [DIR ...]``: clean / FGSM / PGD-20 / CW∞ / AutoAttack /
PGD-CS accuracy of each run's best and last checkpoints (``--attacks ... aa_lite``: torchattacks'
10-iteration AutoAttack as a column of its own; the attacks: ``slim_dg.analysis.attacks``).

Each run's ``results.json`` gets a ``"robustness"`` entry (``slim_dg.analysis.robustness.evaluate_run``)
and its dir a ``robustness.md``; the table of all runs is printed and, with ``--table``, written.
Trailing ``KEY VALUE`` pairs override the runs' configs (e.g. ``DATASET.ROOT /data``).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys

import torch

from ..config.argv import parse_with_config_pairs
from ..errors import InputError
from ..evaluation.results import RESULTS_FILE, write_results
from ..utils.logger import setup_logging
from .attacks import check_attacks
from .cli import ATTACK_NAMES, attack_arg, fraction
from .robustness import DEFAULT_ATTACKS, evaluate_run, markdown_table

logger = logging.getLogger("slim_dg.analysis")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="White-box robustness of the best and last checkpoints of runs")
    p.add_argument("--model-dir", nargs="+", required=True, help="run dir(s) of tools/train.py")
    p.add_argument("--attacks", nargs="+", type=attack_arg, default=list(DEFAULT_ATTACKS), metavar="ATTACK",
                   help=f"of {ATTACK_NAMES}; autoattack: the reference implementation (fra31/auto-attack); "
                        "aa_lite: torchattacks' variant with 10 iterations, faster and weaker "
                        "(default: all but aa_lite)")
    p.add_argument("--eps", type=fraction, default=8 / 255, help="L_inf radius in [0, 1] pixels (default 8/255)")
    p.add_argument("--steps", type=int, default=20, help="PGD, CW∞ and PGD-CS steps (default 20: PGD-20)")
    p.add_argument("--step-size", type=fraction, default=2 / 255)
    p.add_argument("--val-steps", type=int, default=10,
                   help="PGD steps of the best-checkpoint search, for runs that kept no model-best-pgd.pt")
    p.add_argument("--tap", default="-1", help="PGD-CS tap: index or timm name (default: the deepest)")
    p.add_argument("--max-images", type=int, default=0, help="per target domain, drawn by --seed (0: all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the image choice and the attacks' random starts")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--table", default="", help="also write the Markdown table of all runs here")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE overrides of the runs' configs")
    return p


def record(run_dir: str, report: dict) -> None:
    """Into the run's results.json (its DESIGN §5 keys untouched) and robustness.md."""
    path = os.path.join(run_dir, RESULTS_FILE)
    if os.path.isfile(path):
        with open(path) as f:
            res = json.load(f)
        res["robustness"] = report
        write_results(run_dir, res)
    else:
        logger.warning("%s has no %s (unfinished run?): writing robustness.json only", run_dir, RESULTS_FILE)
        with open(os.path.join(run_dir, "robustness.json"), "w") as f:
            json.dump(report, f, indent=2)
    with open(os.path.join(run_dir, "robustness.md"), "w") as f:
        f.write(markdown_table([report]) + "\n")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """``KEY VALUE`` overrides may come before or after the flags."""
    return parse_with_config_pairs(build_parser(), argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(None)
    tap = int(args.tap) if args.tap.lstrip("-").isdigit() else args.tap
    try:
        check_attacks(args.attacks)  # a missing package is named with its install line before any work
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    reports = []
    try:
        for run_dir in args.model_dir:
            report = evaluate_run(run_dir, args.attacks, args.max_images, args.device, args.eps, args.steps,
                                  args.step_size, tap, args.val_steps, args.seed, args.opts)
            record(run_dir, report)
            reports.append(report)
    except InputError as e:  # bad input: one line; anything else is a bug and keeps its traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    table = markdown_table(reports)
    print(table)
    if args.table:
        with open(args.table, "w") as f:
            f.write(table + "\n")
    return 0
