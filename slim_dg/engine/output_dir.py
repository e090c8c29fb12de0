"""Where a run writes, and when it may (DESIGN §4): a new run needs an empty (or new) output dir;
an existing run is only continued (``--resume``, with its own config unless ``--force``) or
written over (``--overwrite``) when asked; a run that fails before training leaves no dir behind."""
from __future__ import annotations

import argparse
import contextlib
import os
import shutil
from typing import Iterator

from yacs.config import CfgNode as CN

from ..config import ConfigError, get_cfg_defaults, merge_from_file
from ..config.hashing import config_diff
from ..errors import InputError
from ..utils.distributed import is_main_process
from ..utils.logger import setup_logging
from ..utils.run_lock import is_empty_run_dir


def default_output_dir(cfg: CN, targets: list[str]) -> str:
    return os.path.join("output", cfg.DATASET.NAME, cfg.TRAINER.NAME, "_".join(targets), f"seed{cfg.SEED}")


def check_output_dir(cfg: CN, args: argparse.Namespace) -> None:
    """``InputError`` unless this run may write into ``cfg.OUTPUT_DIR`` as ``args`` ask."""
    out = cfg.OUTPUT_DIR
    if args.resume:
        saved = os.path.join(args.resume, "config.yaml")
        if not os.path.isfile(saved):
            raise InputError(f"--resume {args.resume}: no config.yaml there; is it a run directory?")
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
        raise InputError(f"Output dir {out} is not empty. Pass --resume {out} to continue that run, "
                         "--overwrite to write into it anyway (files are replaced, nothing is deleted), "
                         "or choose another --output-dir.")


@contextlib.contextmanager
def removed_on_failure(output_dir: str, created: bool) -> Iterator[None]:
    """Deletes ``output_dir`` (which this run ``created``) if the block raises: nothing ran yet."""
    try:
        yield
    except BaseException:
        if created and is_main_process():
            setup_logging(None)  # closes the log file inside it
            shutil.rmtree(output_dir, ignore_errors=True)
        raise
