"""``tools/analyze.py SUBCOMMAND --model-dir DIR [DIR ...]``: the paper's analyses of trained runs.

Every subcommand writes ``<subcommand>.json`` and ``<subcommand>.png`` into ``--output-dir``
(default: ``DIR/analysis`` of the first ``--model-dir``) and prints a short table. Several
``--model-dir`` are compared in one figure. Trailing ``KEY VALUE`` pairs override the runs'
configs (e.g. ``DATASET.ROOT /data``, the adversary's ``ADV.LR``, or the analysed SLIM objective's
``SLIM.BALANCE grad_norm SLIM.LAMBDA_MAX 10``; the JSON records the SLIM settings used).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from fractions import Fraction

import torch

from ..adversarial.step import build_adversary_and_objective
from ..config.argv import parse_with_config_pairs
from ..errors import InputError
from ..utils.logger import setup_logging
from . import plots
from .attacks import ATTACKS, RENAMED, attack_name, build_attacks, robustness
from .gradients import gradient_diversity
from .hessian import loss_trace_by_stage
from .param_noise import noise_curve
from .perturbation import perturbation_profile
from .run import TrainedRun, load_run

logger = logging.getLogger("slim_dg.analysis")


def fraction(text: str) -> float:
    """``0.03``, or ``8/255`` as attack radii are usually written."""
    try:
        return float(Fraction(text))
    except (ValueError, ZeroDivisionError) as e:
        raise argparse.ArgumentTypeError(f"not a number or fraction: {text!r}") from e


def attack_arg(text: str) -> str:
    """An attack of ``slim_dg.analysis.attacks.ATTACKS`` (earlier names accepted); unknown: the valid names."""
    try:
        return attack_name(text)
    except KeyError as e:
        raise argparse.ArgumentTypeError(e.args[0]) from None


#: ``--attacks`` help: the valid names and the earlier ones
ATTACK_NAMES = f"{', '.join(ATTACKS)} (earlier names: {', '.join(f'{old} = {new}' for old, new in RENAMED.items())})"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Analyses of trained runs (writes JSON + PNG, prints a table)")
    sub = p.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--model-dir", nargs="+", required=True, help="run dir(s) of tools/train.py")
    common.add_argument("--load-epoch", default=None, metavar="N|best|FILE", help="checkpoint (default: newest)")
    common.add_argument("--output-dir", default="", help="where to write (default: FIRST_MODEL_DIR/analysis)")
    common.add_argument("--seed", type=int, default=0, help="seed of the batch choice and random draws")
    common.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    common.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE overrides of the runs' configs")
    batch = argparse.ArgumentParser(add_help=False)
    batch.add_argument("--batch-size", type=int, default=64, help="source images analysed")
    adv = argparse.ArgumentParser(add_help=False)
    adv.add_argument("--adversary", default="", help="adversary (default: the run's ADV.NAME, else advstyle); "
                     "perturbation needs an image adversary (advstyle, pgd)")

    s = sub.add_parser("perturbation", parents=[common, batch, adv],
                       help="per-tap feature change caused by the adversary, plain vs SLIM objective")
    s = sub.add_parser("gradients", parents=[common, batch, adv],
                       help="pairwise cosine of the adversary's ascent directions (in its own parameter space; "
                            "PGD: signed steps), plain vs SLIM draws, and SLIM's cosine to plain")
    s.add_argument("--draws", type=int, default=16)
    s = sub.add_parser("hessian", parents=[common, batch], help="Hutchinson trace of the loss Hessian per stage")
    s.add_argument("--samples", type=int, default=100, help="Rademacher vectors")
    s = sub.add_parser("param-noise", parents=[common], help="per-domain accuracy under relative weight noise")
    s.add_argument("--sigmas", type=float, nargs="+", default=[0.0, 0.01, 0.02, 0.05, 0.1])
    s.add_argument("--draws", type=int, default=3, help="noise draws per sigma > 0")
    s = sub.add_parser("attack", parents=[common], help="clean and attacked accuracy per domain (default: FGSM, "
                                                        "PGD, PGD-CS), and each attack's tap cosine")
    s.add_argument("--attacks", nargs="+", type=attack_arg, default=["fgsm", "pgd", "pgd_cs"], metavar="ATTACK",
                   help=f"of {ATTACK_NAMES}")
    s.add_argument("--eps", type=fraction, default=8 / 255, help="L_inf radius in [0, 1] pixels (e.g. 8/255)")
    s.add_argument("--steps", type=int, default=10)
    s.add_argument("--step-size", type=fraction, default=2 / 255)
    s.add_argument("--tap", default="-1", help="PGD-CS tap: index or timm name (default: the deepest)")
    s.add_argument("--max-images", type=int, default=256, help="per domain (0: all)")
    return p


def _adversary_and_objectives(run: TrainedRun, name: str):
    name = name or run.cfg.ADV.NAME or "advstyle"
    adversary, plain = build_adversary_and_objective(run.cfg, run.model, name, use_slim=False)
    _, slim = build_adversary_and_objective(run.cfg, run.model, name, use_slim=True)
    return name, adversary, plain, slim


def _slim_settings(slim, tap_names) -> dict:
    """The analysed SLIM objective, as the run's config and the trailing ``KEY VALUE`` overrides made it."""
    return {"layers": [tap_names[t] for t in slim.layers], "loss": slim.loss, "lambda_min": slim.lambda_min,
            "lambda_max": slim.lambda_max, "sample_per": slim.sample_per, "balance": slim.balance}


def _perturbation(runs, args) -> tuple[dict, str]:
    out, curves = {}, {}
    for run in runs:
        x, y = run.source_batch(args.batch_size, args.seed)
        name, adversary, plain, slim = _adversary_and_objectives(run, args.adversary)
        names = run.model.backbone.tap_names
        entry = {"adversary": name, "slim_settings": _slim_settings(slim, names)}
        for kind, objective in (("plain", plain), ("slim", slim)):
            profile = perturbation_profile(run.model, adversary, objective, x, y, args.seed)
            entry[kind] = {names[t]: v for t, v in profile.items()}
            curves[f"{run.label}: {name}{'+SLIM' if kind == 'slim' else ''}"] = entry[kind]
        out[run.run_dir] = entry
    return out, plots.perturbation_plot(curves, os.path.join(args.output_dir, "perturbation.png"))


def _gradients(runs, args):
    out = {}
    for run in runs:
        x, y = run.source_batch(args.batch_size, args.seed)
        name, adversary, plain, slim = _adversary_and_objectives(run, args.adversary)
        names = run.model.backbone.tap_names
        r = gradient_diversity(run.model, adversary, plain, slim, x, y, args.draws, args.seed)
        r["per_tap"] = {names[t]: v for t, v in r["per_tap"].items()}
        out[run.run_dir] = {"adversary": name, "slim_settings": _slim_settings(slim, names), **r}
    labels = {r.run_dir: r.label for r in runs}
    return out, plots.gradient_plot({labels[k]: v for k, v in out.items()},
                                    os.path.join(args.output_dir, "gradients.png"))


def _hessian(runs, args):
    out = {}
    for run in runs:
        x, y = run.source_batch(args.batch_size, args.seed)
        out[run.run_dir] = loss_trace_by_stage(run.model, x, y, args.samples, args.seed)
    labels = {r.run_dir: r.label for r in runs}
    png = plots.grouped_bars({labels[k]: {g: v["trace"] for g, v in r.items()} for k, r in out.items()},
                             {labels[k]: {g: v["stderr"] for g, v in r.items()} for k, r in out.items()},
                             os.path.join(args.output_dir, "hessian.png"), "Hessian trace (± s.e.)",
                             f"Hutchinson, {args.samples} samples, {args.batch_size} source images")
    return out, png


def _param_noise(runs, args):
    out = {r.run_dir: noise_curve(r.model, r.loaders, args.sigmas, args.draws, args.seed, r.device) for r in runs}
    labels = {r.run_dir: r.label for r in runs}
    return out, plots.noise_plot({labels[k]: v for k, v in out.items()}, os.path.join(args.output_dir,
                                                                                        "param-noise.png"))


def _attack(runs, args):
    out = {}
    for run in runs:
        tap = run.model.backbone.tap_index(args.tap)
        attacks = build_attacks(run.model, run.cfg.INPUT.PIXEL_MEAN, run.cfg.INPUT.PIXEL_STD, run.dataset.num_classes,
                                args.attacks, args.eps, args.steps, args.step_size, tap, args.seed)
        out[run.run_dir] = {"tap": run.model.backbone.tap_names[tap], "eps": args.eps,
                            "steps": args.steps, "step_size": args.step_size, "domains": {
                                d: robustness(run.model, attacks, run.subset_loader(d, args.max_images, args.seed),
                                              run.device, tap, seed=args.seed) for d in run.loaders}}
    labels = {r.run_dir: r.label for r in runs}
    means = {labels[k]: {a: sum(d[a]["accuracy"] for d in r["domains"].values()) / len(r["domains"])
                         for a in ["clean", *args.attacks]} for k, r in out.items()}
    png = plots.grouped_bars(means, None, os.path.join(args.output_dir, "attack.png"), "accuracy (%)",
                             f"mean over domains, eps {args.eps:.4f}, {args.steps} steps")
    return out, png


def _table(command: str, result: dict, runs) -> str:
    """A short plain-text summary of ``result`` (the JSON has everything)."""
    lines = []
    for run in runs:
        r = result[run.run_dir]
        lines.append(f"{run.label}  [{os.path.basename(run.checkpoint)}]")
        if command == "perturbation":
            lines.append(f"  {'tap':<12}{'Δ plain':>10}{'Δ SLIM':>10}{'cos plain':>11}{'cos SLIM':>10}")
            for tap in r["plain"]:
                p, s = r["plain"][tap], r["slim"][tap]
                lines.append(f"  {tap:<12}{p['relative_change']:>10.4f}{s['relative_change']:>10.4f}"
                             f"{p['cosine']:>11.4f}{s['cosine']:>10.4f}")
        elif command == "gradients":
            lines.append(f"  mean pairwise cosine over {r['draws']} draws: plain {r['plain_pairwise_cosine']:.4f}, "
                         f"SLIM {r['slim_pairwise_cosine']:.4f}; SLIM vs plain (cos_to_plain) {r['cos_to_plain']:.4f}")
            lines.append(f"  {'SLIM at tap':<12}{'pairwise':>10}{'to plain':>10}")
            for tap, v in r["per_tap"].items():
                lines.append(f"  {tap:<12}{v['slim_pairwise_cosine']:>10.4f}{v['cos_to_plain']:>10.4f}")
        elif command == "hessian":
            for g, v in r.items():
                lines.append(f"  {g:<12}{v['trace']:>14.3f} ± {v['stderr']:.3f}  ({v['num_params']} params)")
        elif command == "param-noise":
            domains = list(r[0]["domains"])
            lines.append("  " + f"{'sigma':<8}" + "".join(f"{d:>16}" for d in domains))
            for c in r:
                lines.append("  " + f"{c['sigma']:<8g}" + "".join(
                    f"{c['domains'][d]['accuracy']:>9.2f} ±{c['domains'][d]['std']:>5.2f}" for d in domains))
        elif command == "attack":
            cols = ["clean", *[a for a in ATTACKS if a in next(iter(r["domains"].values()))]]
            lines.append(f"  {'domain':<18}" + "".join(f"{c:>9}" for c in cols) + f"{'cos(CS)':>9}")
            for d, v in r["domains"].items():
                cs = f"{v['pgd_cs']['tap_cosine']:>9.3f}" if "pgd_cs" in v else ""
                lines.append(f"  {d:<18}" + "".join(f"{v[c]['accuracy']:>9.2f}" for c in cols) + cs)
    return "\n".join(lines)


COMMANDS = {"perturbation": _perturbation, "gradients": _gradients, "hessian": _hessian,
            "param-noise": _param_noise, "attack": _attack}


def run(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    runs = [load_run(d, args.load_epoch, args.device, args.opts) for d in args.model_dir]
    args.output_dir = args.output_dir or os.path.join(args.model_dir[0], "analysis")
    os.makedirs(args.output_dir, exist_ok=True)
    result, png = COMMANDS[args.command](runs, args)
    doc = {"command": args.command, "args": {k: v for k, v in vars(args).items() if k != "opts"},
           "checkpoints": {r.run_dir: r.checkpoint for r in runs}, "results": result}
    path = os.path.join(args.output_dir, f"{args.command}.json")
    with open(path + ".tmp", "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(path + ".tmp", path)
    print(_table(args.command, result, runs))
    print(f"Wrote {path} and {png}")
    return doc


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """``KEY VALUE`` overrides may come before or after the flags."""
    return parse_with_config_pairs(build_parser(), argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(None)
    try:
        run(args)
    except InputError as e:  # bad input: one line; anything else is a bug and keeps its traceback
        print(f"analyze.py {args.command}: {e}", file=sys.stderr)
        return 2
    return 0
