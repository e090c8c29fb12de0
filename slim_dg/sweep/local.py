"""``--launcher local``: a pool of ``--jobs N`` training subprocesses on this machine.

Each of the N slots keeps one GPU for as long as the pool runs: with CUDA devices visible, slot
``i`` sets ``CUDA_VISIBLE_DEVICES`` to the ``i % G``-th of the G visible devices (round-robin),
so ``--jobs G`` runs one training per GPU and ``--jobs 2G`` two per GPU. Without GPUs, and unless
``OMP_NUM_THREADS`` is set, each run gets ``cpu_count // N`` threads so N runs do not
oversubscribe the cores. Ctrl-C stops the sweep: the running trainings save a checkpoint and exit
(``train.py`` handles SIGINT), no further run starts, and the next sweep resumes them.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
from concurrent.futures import ThreadPoolExecutor

from .execution import Outcome, execute
from .runs import Run

logger = logging.getLogger(__name__)


def visible_gpus() -> list[str]:
    """The devices this process may use: ``CUDA_VISIBLE_DEVICES`` if set, else every CUDA device."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d.strip() for d in env.split(",") if d.strip() and d.strip() != "-1"]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def cpu_share(slot: int, jobs: int) -> list[int] | None:
    """The CPUs of job slot ``slot`` of ``jobs``: a disjoint slice of this process's, so each training's
    loader workers (``DATALOADER.NUM_WORKERS -1``: its CPUs less one) are its share, not the machine's."""
    if jobs <= 1 or not hasattr(os, "sched_getaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    per = max(1, len(cpus) // jobs)
    start = (slot * per) % len(cpus)
    return cpus[start:start + per]


def launch_local(runs: list[Run], jobs: int = 1, **_) -> list[Outcome]:
    jobs = max(1, jobs)
    gpus = visible_gpus()
    threads = os.environ.get("OMP_NUM_THREADS") or str(max(1, (os.cpu_count() or 1) // jobs))
    if gpus:
        logger.info("%d job(s) on GPU(s) %s, round-robin", jobs, ", ".join(gpus))
    slots: queue.Queue[int] = queue.Queue()
    for i in range(jobs):
        slots.put(i)
    finished, lock, stop = [0], threading.Lock(), threading.Event()

    def work(run: Run) -> Outcome:
        if stop.is_set():
            return Outcome(run, "cancelled", 130)
        slot = slots.get()
        try:
            env = dict(os.environ, OMP_NUM_THREADS=threads)
            if gpus:
                env["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]
            outcome = execute(run, env, cpus=cpu_share(slot, jobs))
        finally:
            slots.put(slot)
        with lock:
            finished[0] += 1
            logger.info("[%d/%d] %s", finished[0], len(runs), outcome.describe())
        return outcome

    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        return list(pool.map(work, runs))
    except KeyboardInterrupt:  # the running trainings got the Ctrl-C too: they save a checkpoint and exit
        stop.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
