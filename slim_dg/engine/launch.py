"""The ``tools/train.py`` command line (DESIGN §4): config set-up, training, ``results.json``.

Bad input fails before any work with one line on stderr (exit 2) and leaves no output dir
behind; an existing run is only continued (``--resume``) or written over (``--overwrite``)
when asked.

Started by ``torchrun --nproc_per_node N`` (``WORLD_SIZE`` > 1) it trains with DDP: every process
builds the same trainer on its own GPU (or the CPU, over gloo) and its shard of the data, process
r is seeded with ``SEED + r`` (DDP copies rank 0's initial weights to all), and only rank 0 writes
the output dir (log, config.yaml, checkpoints, TensorBoard, results.json). ``--resume`` and
``--eval-only`` work the same way: every process loads the checkpoint.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import time

import torch
from yacs.config import CfgNode as CN

from ..config import ConfigError, get_cfg_defaults, merge_from_file, merge_from_list, validate_cfg
from ..config.argv import parse_with_config_pairs
from ..config.hashing import config_diff
from ..data import DatasetMissingError
from ..data.class_sets import class_counts
from ..evaluation import format_table, make_results, write_results
from ..evaluation.provenance import make_provenance
from ..modeling.backbone import WeightsUnavailableError
from ..utils.distributed import (all_reduce_sum, barrier, destroy_distributed, get_rank, get_world_size,
                                 init_distributed, is_main_process)
from ..utils.disk import DiskFullError, write_text_atomic
from ..utils.logger import setup_logging
from ..utils.phases import phase, seconds_since_process_start
from ..utils.plugins import load_plugins
from ..utils.run_lock import RunLockedError, hold_run_lock, is_empty_run_dir
from ..utils.seed import set_seed
from .build import build_trainer
from .checkpoint import find_checkpoint, load_checkpoint, load_newest_valid
from .hooks import EvalHook

logger = logging.getLogger("slim_dg.train")
# what building a run from bad input raises; during training the same types are bugs and keep their traceback
SETUP_ERRORS = (ValueError, KeyError, IndexError, OSError)


class InputError(Exception):
    """The run cannot start from this input; the message says what to change."""


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


def default_output_dir(cfg: CN, targets: list[str]) -> str:
    return os.path.join("output", cfg.DATASET.NAME, cfg.TRAINER.NAME, "_".join(targets), f"seed{cfg.SEED}")


def _check_output_dir(cfg: CN, args: argparse.Namespace) -> None:
    out = cfg.OUTPUT_DIR
    if args.resume:
        saved = os.path.join(args.resume, "config.yaml")
        if not os.path.isfile(saved):
            raise FileNotFoundError(f"--resume {args.resume}: no config.yaml there; is it a run directory?")
        old = get_cfg_defaults()
        merge_from_file(old, saved)
        diff = config_diff(old, cfg)
        if diff and not args.force:
            raise ConfigError(f"--resume {args.resume} with a different config ({'; '.join(diff)}). "
                              "Resume with the run's own config, or pass --force to continue with the new one.")
        return
    if args.overwrite or args.eval_only:
        return
    if os.path.isdir(out) and not is_empty_run_dir(out):
        raise FileExistsError(f"Output dir {out} is not empty. Pass --resume {out} to continue that run, "
                              "--overwrite to write into it anyway (files are replaced, nothing is deleted), "
                              "or choose another --output-dir.")


def _checkpoint_for_eval(run_dir: str, which: str | None) -> tuple[str, dict]:
    if which is None:
        return load_newest_valid(run_dir)
    path = find_checkpoint(run_dir, which)
    return path, load_checkpoint(path)


def load_run_checkpoint(trainer, args: argparse.Namespace) -> str:
    """Load the checkpoint ``--resume``/``--eval-only`` names into ``trainer``; returns its path.

    It is read onto the CPU whatever the trainer's device: the random states in it must be CPU
    tensors (``torch.set_rng_state`` refuses CUDA ones), and ``load_state_dict`` copies the model's
    and the optimizer's tensors onto the device their parameters live on."""
    if args.eval_only:
        path, state = _checkpoint_for_eval(args.model_dir, args.load_epoch)
    else:
        path, state = load_newest_valid(args.resume)
    trainer.load_state_dict(state)
    return path


def run(args: argparse.Namespace) -> dict:
    """One run's results; with no target domain, every domain held out in turn (``lodo``: their summary)."""
    from .lodo import lodo_domains, run_lodo

    load_plugins(args.plugin)
    domains = lodo_domains(args)
    if domains:
        return run_lodo(args, domains)
    cfg = setup_cfg(args)
    distributed = init_distributed(cfg.USE_CUDA)  # under torchrun; a no-op otherwise
    try:
        return _run(args, cfg)
    finally:
        if distributed:
            destroy_distributed()


def _run(args: argparse.Namespace, cfg: CN) -> dict:
    created = not os.path.exists(cfg.OUTPUT_DIR)
    with hold_run_lock(cfg.OUTPUT_DIR):  # one process (group) writes a run dir at a time, whatever the flags
        return _train(args, cfg, created)


def _train(args: argparse.Namespace, cfg: CN, created: bool) -> dict:
    main_process = is_main_process()
    _check_output_dir(cfg, args)
    barrier()  # every process has checked the output dir before rank 0 creates it
    try:
        # other processes log warnings and errors to the console only
        setup_logging(cfg.OUTPUT_DIR if main_process else None, logging.INFO if main_process else logging.WARNING)
        logger.info("Command: %s", " ".join(sys.argv))
        set_seed(cfg.SEED + get_rank())  # processes must not share dropout masks or adversarial random starts
        if cfg.TRAIN.DETERMINISTIC:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
        with phase("model set-up"):  # the data's set-up inside it is counted on its own
            trainer = build_trainer(cfg)
        # before training: a dataset that fails its count check (or any other surprise) costs no training time
        provenance = make_provenance(cfg, trainer.device, trainer.amp_dtype, trainer.dataset,
                                     get_world_size()) if main_process else None
        start_epoch = start_step = 0
        if args.eval_only or args.resume:
            path = load_run_checkpoint(trainer, args)
            start_epoch, start_step = trainer.epoch, trainer.step_in_epoch
            logger.info("Loaded %s (%d epochs and %d steps done)", path, start_epoch, start_step)
    except BaseException as e:
        if created and main_process:  # nothing ran: leave no half-made run directory behind
            setup_logging(None)
            shutil.rmtree(cfg.OUTPUT_DIR, ignore_errors=True)
        if isinstance(e, SETUP_ERRORS) and not isinstance(e, ConfigError):
            raise InputError(e.args[0] if isinstance(e, KeyError) and e.args else str(e)) from e
        raise
    if not args.eval_only and main_process:
        write_text_atomic(os.path.join(cfg.OUTPUT_DIR, "config.yaml"), cfg.dump(), "the run's config")
    tic = time.perf_counter()
    # the EvalHook records every evaluation of training (results.json "history")
    evaluator = None if args.eval_only else next((h for h in trainer.hooks if isinstance(h, EvalHook)), None)
    if args.eval_only:
        trainer.evaluate()
    elif start_epoch < cfg.OPTIM.MAX_EPOCH:
        trainer.train(start_epoch, cfg.OPTIM.MAX_EPOCH, start_step)
    elif evaluator is not None:  # trained to the end, but stopped before the final evaluation
        evaluator.evaluate(trainer.epoch)
    else:
        trainer.evaluate()
    history = evaluator.history if evaluator is not None else [{"epoch": trainer.epoch, **trainer.last_eval}]
    res = make_results(cfg, trainer.last_eval["target"], trainer.last_eval["source_val"], trainer.epoch, history)
    res.update(class_counts(cfg, trainer.dataset))  # num_classes_seen per domain (and unseen-class images)
    skipped = all_reduce_sum([trainer.skipped_images], trainer.device)[0]  # each process read its own shard
    if skipped:
        res["skipped_train_images"] = skipped
    # split-list lines that were given their class folder's label
    relabelled = len(getattr(getattr(trainer, "dataset", None), "relabelled", ()))
    if relabelled:
        res["relabelled"] = relabelled
    if main_process:
        res["provenance"] = provenance
        path = write_results(cfg.OUTPUT_DIR, res)
        logger.info("Done in %.1f s. Per-domain accuracy (%s):\n%s", time.perf_counter() - tic, path,
                    format_table(res))
        logger.info("Time by phase, %s", phase.summary())
    return res


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    phase.reset()
    phase.add("start-up", seconds_since_process_start() or 0.0)  # the interpreter and the imports
    try:
        run(args)
    except (InputError, ConfigError, KeyError, FileExistsError, FileNotFoundError, DatasetMissingError,
            WeightsUnavailableError, RunLockedError) as e:
        # bad input: one clear line, no traceback to dig through
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"error: {msg}", file=sys.stderr)
        sys.exit(2)
    except DiskFullError as e:  # not a bug: one line that says what to free
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
