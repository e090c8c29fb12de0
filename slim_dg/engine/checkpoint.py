"""Checkpoint files: atomic writes, every random state, plain types only, newest-valid lookup.

Everything is stored as tensors and plain Python types, so loading uses
``torch.load(weights_only=True)``, which refuses pickled arbitrary objects.

Names say where a run stood: ``model-epoch3.pt`` after 3 full epochs, ``model-epoch3-step40.pt``
40 steps into the 4th, ``model-best.pt`` the best by mean source-validation accuracy, ``model-best-pgd.pt``
(robust trainers) the best by PGD accuracy on the source-validation split.
"""
from __future__ import annotations

import glob
import logging
import os
import random
import re
import threading

import numpy as np
import torch

from ..errors import MissingFileError
from ..utils.disk import write_atomic
from ..utils.phases import phase

CHECKPOINT_DIR = "checkpoints"
BEST = "model-best.pt"
BEST_PGD = "model-best-pgd.pt"  # the robust trainers' best by PGD accuracy on the validation split (RobustValHook)
_NAME = re.compile(r"model-epoch(\d+)(?:-step(\d+))?\.pt$")
logger = logging.getLogger(__name__)


def checkpoint_name(epochs_done: int, step_in_epoch: int = 0) -> str:
    return f"model-epoch{epochs_done}.pt" if step_in_epoch == 0 else f"model-epoch{epochs_done}-step{step_in_epoch}.pt"


def get_rng_state() -> dict:
    np_state = np.random.get_state(legacy=False)
    return {
        "python": random.getstate(),
        "numpy": {"key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)), "pos": np_state["state"]["pos"],
                  "has_gauss": np_state["has_gauss"], "gauss": np_state["gauss"]},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state({"bit_generator": "MT19937", "state": {"key": n["key"].numpy().astype(np.uint32),
                                                              "pos": n["pos"]},
                         "has_gauss": n["has_gauss"], "gauss": n["gauss"]})
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class _ByteCounter:
    """A write-only sink that counts what ``torch.save`` would write."""

    def __init__(self) -> None:
        self.n = 0

    def write(self, b) -> int:
        self.n += len(b)
        return len(b)

    def flush(self) -> None:
        pass


def serialized_size(state: dict) -> int:
    counter = _ByteCounter()
    torch.save(state, counter)
    return counter.n


@phase("checkpoints")
def save_checkpoint(state: dict, path: str) -> str:
    """Write to a temporary file, flush it to disk, then rename: never a half-written checkpoint.
    Out of space: ``DiskFullError`` (one line: the file, its size, the free space), the partial
    file removed and the earlier checkpoints untouched, so ``--resume`` continues once space is freed."""
    run_dir = os.path.dirname(os.path.dirname(os.path.abspath(path)))
    return write_atomic(path, lambda f: torch.save(state, f), f"checkpoint {os.path.basename(path)}",
                        lambda: serialized_size(state), binary=True,
                        then=f"free some space, then `python tools/train.py --resume {run_dir}` continues "
                             "from its newest checkpoint")


def cpu_copy(state):
    """``state`` with every tensor copied to the CPU and every dict/list/tuple rebuilt: training may
    then change the live weights, optimizer buffers and histories while the copy is written."""
    if isinstance(state, torch.Tensor):
        return state.detach().to("cpu", copy=True)
    if isinstance(state, dict):
        return {k: cpu_copy(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(cpu_copy(v) for v in state)
    return state  # numbers, strings, None: immutable


class BackgroundCheckpointWriter:
    """Writes checkpoints from one background thread, so training goes on during the write and its
    fsync. ``submit`` takes a CPU copy of the state first (training changes the live tensors) and
    waits for the previous write: at most one is pending. Each file is still written atomically
    (``save_checkpoint``: temporary file, fsync, rename). ``wait`` returns once nothing is pending and
    raises what a write raised (a full disk: ``DiskFullError``); the trainer calls it before training
    ends, however it ends (a signal, an error), so no run exits with a checkpoint half done."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def submit(self, state: dict, path: str, then=None) -> None:
        """Write ``state`` to ``path`` in the background, then call ``then()`` (in that thread)."""
        with phase("checkpoints"):
            self.wait()
            state = cpu_copy(state)

        def write() -> None:
            try:
                save_checkpoint(state, path)
                if then is not None:
                    then()
            except BaseException as e:  # raised in the training thread, at its next wait
                self._error = e

        # not a daemon: even an interpreter that exits without waiting finishes the file first
        self._thread = threading.Thread(target=write, name=f"checkpoint {os.path.basename(path)}")
        self._thread.start()

    def wait(self) -> None:
        if self._thread is not None:
            with phase("checkpoints"):
                self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error


def load_checkpoint(path: str, map_location="cpu") -> dict:
    return torch.load(path, map_location=map_location, weights_only=True)


def list_checkpoints(run_dir: str) -> list[str]:
    """Periodic checkpoints of a run, oldest first (by epochs and steps done)."""
    found = []
    for p in glob.glob(os.path.join(run_dir, CHECKPOINT_DIR, "model-epoch*.pt")):
        m = _NAME.search(os.path.basename(p))
        if m:
            found.append(((int(m.group(1)), int(m.group(2) or 0)), p))
    return [p for _, p in sorted(found)]


def load_newest_valid(run_dir: str, map_location="cpu") -> tuple[str, dict]:
    """The newest checkpoint that loads; a truncated or corrupt newer one is skipped with a warning."""
    paths = list_checkpoints(run_dir)
    if not paths:
        raise MissingFileError(f"No checkpoint in {os.path.join(run_dir, CHECKPOINT_DIR)}")
    for path in reversed(paths):
        try:
            return path, load_checkpoint(path, map_location)
        except Exception as e:  # truncated zip, bad pickle, ...: all mean "not usable"
            logger.warning("Checkpoint %s is unreadable (%s: %s); falling back to the previous one",
                           path, type(e).__name__, e)
    raise MissingFileError(f"No readable checkpoint in {os.path.join(run_dir, CHECKPOINT_DIR)}")


def prune_checkpoints(run_dir: str, keep: int) -> None:
    """Keep the newest ``keep`` periodic checkpoints (0: all); ``model-best.pt`` is never pruned."""
    if keep <= 0:
        return
    for path in list_checkpoints(run_dir)[:-keep]:
        os.remove(path)


def find_checkpoint(run_dir: str, which: str | None = None) -> str:
    """Path of checkpoint ``which`` of a run: epoch ``N``, ``best``, a file name in its checkpoint
    dir, or (None) the newest readable one."""
    if which is None:
        return load_newest_valid(run_dir)[0]
    name = BEST if which == "best" else checkpoint_name(int(which)) if which.isdigit() else which
    path = os.path.join(run_dir, CHECKPOINT_DIR, name)
    if not os.path.isfile(path):
        folder = os.path.dirname(path)
        have = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
        raise MissingFileError(f"No checkpoint {path}. This run has: {', '.join(have) or '(none)'}")
    return path
