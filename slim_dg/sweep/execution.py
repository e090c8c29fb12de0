"""One run of ``tools/train.py`` as a subprocess: what every launcher calls, here or on a cluster node.

The run directory is locked first (``utils.run_lock``): a run that another process holds (a second
sweep, a Slurm task, a ``train.py`` by hand) is reported as running elsewhere and left alone. Under
the lock the run's state is read again (a requeued cluster job, or a second sweep that got there
first, finds it further along than the sweep that submitted it), and the lock passes to the
training process, so nothing can start the run in between. Its stdout and stderr go to
``<run dir>.log`` (appended, one header per attempt); ``train.py`` keeps its own ``log.txt``.
"""
from __future__ import annotations

import datetime
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable

from ..errors import MissingFileError
from ..evaluation.results import RESULTS_FILE
from ..utils.run_lock import INHERITED_FD, RunLock, RunLockedError
from .runs import Run
from .state import BUSY, DONE, RESTART, RESUME, run_state


def train_script() -> str:
    """``tools/train.py`` of the checkout that holds this package (an editable install)."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        "tools", "train.py")
    if not os.path.isfile(path):
        raise MissingFileError(f"{path} not found: sweeps run tools/train.py of a source checkout "
                                "(pip install -e .)")
    return path


def train_argv(run: Run, state: str) -> list[str]:
    """The ``tools/train.py`` arguments that take ``run`` on from ``state`` (start, restart or resume)."""
    if state == RESUME:  # the run's own config.yaml: the caller checked it matches
        return run.plugin_args() + ["--resume", run.run_dir]
    return (["--overwrite"] if state == RESTART else []) + run.train_args()


def train_command(run: Run, state: str, script: str | None = None, nproc: int = 1) -> list[str]:
    """The training command; with ``nproc`` > 1, one DDP process per GPU under ``torchrun``."""
    cmd = [sys.executable, script or train_script()]
    if nproc > 1:
        cmd[1:1] = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
    return cmd + train_argv(run, state)


@dataclass
class Outcome:
    run: Run
    state: str  # what was done: done (skipped), start, resume, restart, or busy (running elsewhere)
    returncode: int
    seconds: float = 0.0
    holder: str = ""  # busy: the process that holds the run ("pid ..., host ..., since ...")

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def describe(self) -> str:
        if self.state == DONE:
            return f"{self.run.name}: already done"
        if self.state == BUSY:
            return f"{self.run.name}: running elsewhere ({self.holder}), not started here"
        status = "ok" if self.ok else f"FAILED (exit {self.returncode}), log: {self.run.log_path}"
        return f"{self.run.name}: {self.state}, {status} ({self.seconds:.0f} s)"


def clear_stale(run_dir: str) -> None:
    """Before starting over: an invalid results.json and the old TensorBoard events must not mix in."""
    stale = os.path.join(run_dir, RESULTS_FILE)
    if os.path.isfile(stale):
        os.replace(stale, stale + ".invalid")
    shutil.rmtree(os.path.join(run_dir, "tensorboard"), ignore_errors=True)


def execute(run: Run, env: dict | None = None, on_start: Callable[[subprocess.Popen], None] | None = None,
            script: str | None = None, nproc: int = 1, cpus: list[int] | None = None) -> Outcome:
    """Run (or resume, or skip) one run with ``script`` (default: ``train_script()``) in ``nproc``
    processes, on the CPUs ``cpus`` (default: this process's); never raises for a failed training,
    returns its exit code. A run another process holds (its run lock) is left alone: ``BUSY``."""
    try:
        lock = RunLock.acquire(run.run_dir)
    except RunLockedError as e:
        return Outcome(run, BUSY, 0, holder=e.holder)
    try:
        return _execute_locked(run, lock, env, on_start, script, nproc, cpus)
    finally:
        lock.release()  # the training process has ended: its copy of the lock is gone with it


def _execute_locked(run: Run, lock: RunLock, env: dict | None, on_start, script: str | None, nproc: int,
                    cpus: list[int] | None) -> Outcome:
    state, _ = run_state(run)
    if state == DONE:
        return Outcome(run, DONE, 0)
    if state == RESTART:
        clear_stale(run.run_dir)
    cmd = train_command(run, state, script, nproc)
    tic = time.perf_counter()
    gpu = (env or os.environ).get("CUDA_VISIBLE_DEVICES")
    env = dict(os.environ if env is None else env)
    fd = lock.pass_on()
    if fd is not None:  # train.py takes over the lock (the same open file, so no gap)
        env[INHERITED_FD] = str(fd)
    with open(run.log_path, "a") as log:
        log.write(f"==== {datetime.datetime.now():%Y-%m-%d %H:%M:%S} sweep: {state} on {os.uname().nodename}"
                  f"{'' if gpu is None else ' CUDA_VISIBLE_DEVICES=' + gpu}\n$ {shlex.join(cmd)}\n")
        log.flush()
        # the training sizes its loader workers by its CPU affinity (DATALOADER.NUM_WORKERS -1)
        pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus and hasattr(os, "sched_setaffinity") else None
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=run.cwd,
                                env=env, preexec_fn=pin, pass_fds=() if fd is None else (fd,))
        if on_start is not None:
            on_start(proc)
        returncode = proc.wait()
        log.write(f"==== exit {returncode} after {time.perf_counter() - tic:.1f} s\n")
    return Outcome(run, state, returncode, time.perf_counter() - tic)
