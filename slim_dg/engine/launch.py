"""The ``tools/train.py`` command line (DESIGN §4): config set-up, training, ``results.json``."""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time

import torch
from yacs.config import CfgNode as CN

from ..config import ConfigError, get_cfg_defaults, merge_from_file, merge_from_list, validate_cfg
from ..evaluation import format_table, make_results, write_results
from ..utils.logger import setup_logging
from ..utils.plugins import load_plugins
from ..utils.seed import set_seed
from .build import build_trainer
from .hooks import latest_checkpoint

logger = logging.getLogger("slim_dg.train")


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
    p.add_argument("--resume", default="", metavar="DIR", help="continue the run in DIR from its last checkpoint")
    p.add_argument("--overwrite", action="store_true", help="allow writing into a non-empty output dir")
    p.add_argument("--eval-only", action="store_true", help="evaluate a saved model (needs --model-dir)")
    p.add_argument("--model-dir", default="", help="run directory whose checkpoint --eval-only loads")
    p.add_argument("--load-epoch", type=int, default=None, help="checkpoint epoch for --eval-only (default: last)")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="import MODULE (or a .py file) first, to register datasets/trainers; repeatable")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    return p


def setup_cfg(args: argparse.Namespace) -> CN:
    """Defaults, then the config file (with its _BASE_ chain), then flags, then KEY VALUE; validated and frozen."""
    cfg = get_cfg_defaults()
    config_file = args.config_file or (os.path.join(args.resume, "config.yaml") if args.resume else "")
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
    merge_from_list(cfg, flags)
    merge_from_list(cfg, args.opts)
    validate_cfg(cfg)
    if not cfg.OUTPUT_DIR:
        cfg.OUTPUT_DIR = os.path.join("output", cfg.DATASET.NAME, cfg.TRAINER.NAME,
                                      "_".join(cfg.DATASET.TARGET_DOMAINS), f"seed{cfg.SEED}")
    cfg.freeze()
    return cfg


def _check_output_dir(cfg: CN, args: argparse.Namespace) -> None:
    out = cfg.OUTPUT_DIR
    if args.resume or args.overwrite or args.eval_only:
        return
    if os.path.isdir(out) and os.listdir(out):
        raise FileExistsError(f"Output dir {out} is not empty. Pass --resume {out} to continue that run, "
                              "--overwrite to write into it anyway (files are replaced, nothing is deleted), "
                              "or choose another --output-dir.")


def run(args: argparse.Namespace) -> dict:
    load_plugins(args.plugin)
    cfg = setup_cfg(args)
    _check_output_dir(cfg, args)
    setup_logging(cfg.OUTPUT_DIR)
    logger.info("Command: %s", " ".join(sys.argv))
    with open(os.path.join(cfg.OUTPUT_DIR, "config.yaml"), "w") as f:
        f.write(cfg.dump())
    set_seed(cfg.SEED)
    trainer = build_trainer(cfg)
    start_epoch = 0
    ckpt_dir = args.model_dir if args.eval_only else (args.resume or None)
    if ckpt_dir:
        path = _checkpoint_path(ckpt_dir, args.load_epoch)
        trainer.load_state_dict(torch.load(path, map_location=trainer.device, weights_only=True))
        start_epoch = trainer.epoch
        logger.info("Loaded %s (epoch %d)", path, start_epoch)
    tic = time.perf_counter()
    if args.eval_only or start_epoch >= cfg.OPTIM.MAX_EPOCH:
        trainer.evaluate()
    else:
        trainer.train(start_epoch, cfg.OPTIM.MAX_EPOCH)
    res = make_results(cfg, trainer.last_eval["target"], trainer.last_eval["source_val"], trainer.epoch)
    path = write_results(cfg.OUTPUT_DIR, res)
    logger.info("Done in %.1f s. Per-domain accuracy (%s):\n%s", time.perf_counter() - tic, path, format_table(res))
    return res


def _checkpoint_path(run_dir: str, epoch: int | None) -> str:
    if epoch is not None:
        path = os.path.join(run_dir, "checkpoints", f"model-epoch{epoch}.pt")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"No checkpoint for epoch {epoch}: {path}")
        return path
    path = latest_checkpoint(run_dir)
    if path is None:
        raise FileNotFoundError(f"No checkpoint in {os.path.join(run_dir, 'checkpoints')}")
    return path


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.eval_only and not args.model_dir:
        build_parser().error("--eval-only needs --model-dir DIR")
    try:
        run(args)
    except (ConfigError, KeyError, FileExistsError, FileNotFoundError) as e:
        # bad input: one clear line, no traceback to dig through
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"error: {msg}", file=sys.stderr)
        sys.exit(2)
