"""``tools/train.py``'s command line to a config: the flags, then defaults, the config file (with
its ``_BASE_`` chain), the flags' keys and the ``KEY VALUE`` pairs, validated and frozen."""
from __future__ import annotations

import argparse
import os

from yacs.config import CfgNode as CN

from ..config import get_cfg_defaults, merge_from_file, merge_from_list, validate_cfg
from ..config.argv import parse_with_config_pairs
from .output_dir import default_output_dir


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Train (or evaluate) a domain-generalization model; writes results.json per domain.",
        epilog="Trailing KEY VALUE pairs override config keys, e.g. OPTIM.LR 0.01 OPTIM.MAX_EPOCH 5")
    p.add_argument("--config-file", default="", help="experiment YAML (may name _BASE_ files)")
    p.add_argument("--root", default="", help="dataset root (DATASET.ROOT)")
    p.add_argument("--source-domains", nargs="+", help="DATASET.SOURCE_DOMAINS (default: all but the targets)")
    p.add_argument("--target-domains", nargs="+", help="DATASET.TARGET_DOMAINS")
    p.add_argument("--seed", type=int, default=None, help="SEED (0 is a valid seed)")
    p.add_argument("--output-dir", default="", help="OUTPUT_DIR")
    p.add_argument("--resume", default="", metavar="DIR",
                   help="continue the run in DIR from its newest readable checkpoint (its config.yaml by default)")
    p.add_argument("--force", action="store_true", help="with --resume: accept a config that differs from the run's")
    p.add_argument("--overwrite", action="store_true", help="allow writing into a non-empty output dir")
    p.add_argument("--eval-only", action="store_true", help="evaluate a saved model (needs --model-dir)")
    p.add_argument("--model-dir", default="", help="run directory whose checkpoint --eval-only loads")
    p.add_argument("--load-epoch", default=None, metavar="N|best|FILE",
                   help="--eval-only checkpoint: epoch N, 'best', or a file name in DIR/checkpoints "
                        "(e.g. model-epoch2-step40.pt); default: the newest")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="import MODULE (or a .py file) first, to register datasets/trainers; repeatable")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Like ``build_parser().parse_args``, but ``KEY VALUE`` pairs may come anywhere: before, between
    or after the flags (``--target-domains a b OPTIM.LR 0.1 --seed 3`` works)."""
    parser = build_parser()
    args = parse_with_config_pairs(parser, argv)
    if args.eval_only and not args.model_dir:
        parser.error("--eval-only needs --model-dir DIR")
    if args.resume and args.overwrite:
        parser.error("--resume continues a run and --overwrite starts one over: pass only one")
    return args


def merge_args(args: argparse.Namespace) -> CN:
    """Defaults, then the config file (with its _BASE_ chain), then flags, then KEY VALUE (not yet validated)."""
    cfg = get_cfg_defaults()
    run_dir = args.resume or (args.model_dir if args.eval_only else "")
    config_file = args.config_file or (os.path.join(run_dir, "config.yaml") if run_dir else "")
    if config_file:
        merge_from_file(cfg, config_file)
    flags = []
    if args.root:
        flags += ["DATASET.ROOT", args.root]
    if args.source_domains:
        flags += ["DATASET.SOURCE_DOMAINS", str(args.source_domains)]
    if args.target_domains:
        flags += ["DATASET.TARGET_DOMAINS", str(args.target_domains)]
    if args.seed is not None:  # `is not None`: --seed 0 must count
        flags += ["SEED", str(args.seed)]
    if args.output_dir or args.resume:
        flags += ["OUTPUT_DIR", args.output_dir or args.resume]
    elif args.eval_only:
        flags += ["OUTPUT_DIR", os.path.join(args.model_dir, "eval")]
    merge_from_list(cfg, flags)
    merge_from_list(cfg, args.opts)
    return cfg


def setup_cfg(args: argparse.Namespace) -> CN:
    """``merge_args``, validated and frozen."""
    cfg = merge_args(args)
    validate_cfg(cfg)
    if not cfg.OUTPUT_DIR:
        cfg.OUTPUT_DIR = default_output_dir(cfg, cfg.DATASET.TARGET_DOMAINS)
    cfg.freeze()
    return cfg
