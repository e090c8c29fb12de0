"""The ``tools/train.py`` command line (DESIGN §4): train, resume or evaluate one run, or hold out
every domain in turn (``lodo``).

Bad input fails before any work with one line on stderr (exit 2) and leaves no output dir behind
(``output_dir``); any other error is a bug and keeps its traceback.

Started by ``torchrun --nproc_per_node N`` (``WORLD_SIZE`` > 1) it trains with DDP: every process
builds the same trainer on its own GPU (or the CPU, over gloo) and its shard of the data, process
r is seeded with ``SEED + r`` (DDP copies rank 0's initial weights to all), and only rank 0 writes
the output dir (log, config.yaml, checkpoints, TensorBoard, results.json). ``--resume`` and
``--eval-only`` work the same way: every process loads the checkpoint.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from typing import Iterator

from yacs.config import CfgNode as CN

from ..errors import InputError
from ..utils.disk import DiskFullError, write_text_atomic
from ..utils.distributed import barrier, is_main_process
from ..utils.phases import phase, seconds_since_process_start
from ..utils.plugins import load_plugins
from ..utils.run_lock import hold_run_lock
from .argv_config import parse_args, setup_cfg
from .build import build_trainer
from .output_dir import check_output_dir, removed_on_failure
from .process import process_group, setup_process

logger = logging.getLogger("slim_dg.train")
# what building a run from bad input raises (data and model code check their input with these);
# once training has started the same types are bugs and keep their traceback
SETUP_ERRORS = (ValueError, KeyError, IndexError, OSError)


def run(args: argparse.Namespace) -> dict:
    """One run's results; with no target domain, every domain held out in turn (``lodo``: their summary)."""
    from .lodo import lodo_domains, run_lodo

    load_plugins(args.plugin)
    domains = lodo_domains(args)
    if domains:
        return run_lodo(args, domains)
    with setup_errors_are_input():  # a check of the config that raised a plain ValueError/KeyError
        cfg = setup_cfg(args)
    with process_group(cfg.USE_CUDA):
        return run_single(args, cfg)


def run_single(args: argparse.Namespace, cfg: CN) -> dict:
    """Train (``--resume``: continue) or evaluate (``--eval-only``) the run of ``cfg``; its results."""
    created = not os.path.exists(cfg.OUTPUT_DIR)
    with hold_run_lock(cfg.OUTPUT_DIR):  # one process (group) writes a run dir at a time, whatever the flags
        check_output_dir(cfg, args)
        barrier()  # every process has checked the output dir before rank 0 creates it
        with removed_on_failure(cfg.OUTPUT_DIR, created), setup_errors_are_input():
            setup_process(cfg)
            with phase("model set-up"):  # the data's set-up inside it is counted on its own
                trainer = build_trainer(cfg)
            trainer.resume_or_load(args.resume or (args.model_dir if args.eval_only else ""),
                                   args.load_epoch if args.eval_only else None)
        if args.eval_only:
            results = trainer.test()
        else:
            if is_main_process():
                write_text_atomic(os.path.join(cfg.OUTPUT_DIR, "config.yaml"), cfg.dump(), "the run's config")
            results = trainer.train()
        if is_main_process():
            logger.info("Time by phase, %s", phase.summary())
        return results


@contextlib.contextmanager
def setup_errors_are_input() -> Iterator[None]:
    """``SETUP_ERRORS`` raised while a run is built become ``InputError`` (config errors already are one)."""
    try:
        yield
    except InputError:
        raise
    except SETUP_ERRORS as e:
        raise InputError(e.args[0] if isinstance(e, KeyError) and e.args else str(e)) from e


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    phase.reset()
    phase.add("start-up", seconds_since_process_start() or 0.0)  # the interpreter and the imports
    try:
        run(args)
    except InputError as e:  # bad input: one clear line, no traceback to dig through
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except DiskFullError as e:  # not a bug: one line that says what to free
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
