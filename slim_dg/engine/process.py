"""What each process of a run sets up before building its trainer: the process group (under
``torchrun``), logging, the seed and determinism. Determinism is set here and nowhere else."""
from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import Iterator

import torch
from yacs.config import CfgNode as CN

from ..utils.distributed import destroy_distributed, get_rank, init_distributed, is_main_process
from ..utils.logger import setup_logging
from ..utils.seed import set_seed

logger = logging.getLogger("slim_dg.train")


@contextlib.contextmanager
def process_group(use_cuda: bool) -> Iterator[None]:
    """The DDP process group while the block runs, when started by ``torchrun``; a no-op otherwise."""
    distributed = init_distributed(use_cuda)
    try:
        yield
    finally:
        if distributed:
            destroy_distributed()


def set_determinism(cfg: CN) -> None:
    """``TRAIN.DETERMINISTIC``: deterministic kernels only. Otherwise cuDNN autotunes its kernels
    (the input sizes are fixed, so the tuned ones are reused)."""
    if cfg.TRAIN.DETERMINISTIC:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    elif cfg.USE_CUDA and torch.cuda.is_available():
        torch.backends.cudnn.benchmark = True


def setup_process(cfg: CN) -> None:
    """Logging (the main process into ``OUTPUT_DIR``, the others warnings and errors to the console),
    the seed ``SEED + rank`` (processes must not share dropout masks or adversarial random starts)
    and determinism."""
    main_process = is_main_process()
    setup_logging(cfg.OUTPUT_DIR if main_process else None, logging.INFO if main_process else logging.WARNING)
    logger.info("Command: %s", " ".join(sys.argv))
    set_seed(cfg.SEED + get_rank())
    set_determinism(cfg)
