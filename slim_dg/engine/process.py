"""What each process of a run sets up before building its trainer: the process group (under
``torchrun``), logging, the seed and determinism. Determinism is set here and nowhere else.
``tune_training_process``: the interpreter and allocator settings of a training process."""
from __future__ import annotations

import contextlib
import ctypes
import gc
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


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def tune_training_process() -> None:
    """Process-wide settings for a training process (``tools/train.py`` calls this first).

    - ``gc.freeze()``: the ~400k objects of the imported modules (torch, torchvision, timm) live as
      long as the process; frozen, the cycle collector does not scan them again, during the run and
      at exit, where that scan made up most of a 1 s interpreter shutdown (measured: 1.07 -> 0.22 s).
    - glibc's allocator keeps freed memory for reuse: by default a buffer over its mmap threshold
      (tens of MB: a batch's activations on the CPU) is mapped for each allocation and unmapped when
      freed, so every forward pays page faults on fresh zeroed pages. With the thresholds raised, the
      process keeps its peak heap (the peak of one step) and reuses it: measured on 2 cores, ResNet-18
      at 64 px, evaluation 1.9 -> 1.6 ms an image and a training step up to 5% faster. No library
      exposes ``mallopt``, hence ctypes; other C libraries are left as they are.
    """
    gc.freeze()
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6")
            libc.mallopt(_M_MMAP_THRESHOLD, 256 * 2 ** 20)  # mapped only above 256 MB
            libc.mallopt(_M_TRIM_THRESHOLD, 2 ** 31 - 1)  # never give the top of the heap back
        except (OSError, AttributeError):  # not glibc (musl, ...): its allocator's own defaults
            pass


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
