"""``--launcher slurm``: the same runs as a Slurm job array, submitted with ``submitit``.

One array task per run (``executor.map_array``), at most ``--max-parallel`` at a time
(``slurm_array_parallelism``). A task runs ``execute``: it reads the run's state when it starts,
so skip/resume/restart mean the same as with the local launcher. On a time-out or pre-emption
submitit calls ``TrainJob.checkpoint``: it asks the training process to save (SIGTERM, which
``train.py`` answers with a checkpoint) and requeues the task, which then resumes.

``cluster="local"`` runs the identical code path with submitit's ``LocalExecutor`` on this
machine (every task at once; used by the tests and for trying a sweep before submitting it).
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess

import submitit
from submitit.helpers import Checkpointable, DelayedSubmission

from ..errors import InputError
from .execution import Outcome, execute, train_script
from .runs import Run

logger = logging.getLogger(__name__)


class TrainJob(Checkpointable):
    """The callable a Slurm task runs (pickled by submitit): one ``execute(run)`` with the training
    script the submitting sweep resolved, in one process per GPU of the task (``torchrun`` when
    ``gpus`` > 1: one process would use GPU 0 alone)."""

    def __init__(self, script: str, gpus: int = 1) -> None:
        self.script = script
        self.gpus = gpus
        self._proc: subprocess.Popen | None = None

    def _remember(self, proc: subprocess.Popen) -> None:
        self._proc = proc

    def __call__(self, run: Run) -> Outcome:
        env = dict(os.environ)
        if "SLURM_CPUS_PER_TASK" in env:  # the task's cores, not the node's
            env.setdefault("OMP_NUM_THREADS", env["SLURM_CPUS_PER_TASK"])
        return execute(run, env, on_start=self._remember, script=self.script, nproc=self.gpus)

    def checkpoint(self, run: Run) -> DelayedSubmission:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # train.py finishes its step, saves, exits 143
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop within 60 s; resuming from its previous checkpoint", run.name)
        return DelayedSubmission(TrainJob(self.script, self.gpus), run)

    def __getstate__(self) -> dict:
        return {"script": self.script, "gpus": self.gpus}  # a process handle does not travel

    def __setstate__(self, state: dict) -> None:
        self.script, self.gpus, self._proc = state["script"], state.get("gpus", 1), None


def make_executor(folder: str, cluster: str = "slurm", partition: str = "", gpus_per_job: int = 1,
                  cpus_per_job: int = 4, time_min: int = 24 * 60, max_parallel: int = 32, name: str = "slim_dg"):
    if cluster == "slurm" and shutil.which("sbatch") is None:
        raise InputError("--launcher slurm needs Slurm's sbatch on PATH (run the sweep on the cluster's login "
                         "node), or use --launcher local")
    executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
    params = dict(name=name, timeout_min=time_min, gpus_per_node=gpus_per_job, cpus_per_task=cpus_per_job,
                  slurm_array_parallelism=max_parallel)
    if partition:
        params["slurm_partition"] = partition
    executor.update_parameters(**params)  # slurm_* keys are ignored by the local executor
    return executor


def launch_slurm(runs: list[Run], folder: str, cluster: str = "slurm", wait: bool = True, **params) -> list[Outcome]:
    """Submit ``runs`` as one job array; with ``wait``, the outcome of each (a task killed by the
    cluster is a failure whose message names submitit's logs), else ``[]`` once submitted."""
    if not runs:
        return []
    executor = make_executor(folder, cluster, **params)
    jobs = executor.map_array(TrainJob(train_script(), params.get("gpus_per_job", 1)), runs)
    logger.info("Submitted %d task(s) as job array %s; submitit logs in %s", len(jobs),
                jobs[0].job_id.split("_")[0], folder)
    if not wait:
        return []
    run_of = {job.job_id: run for job, run in zip(jobs, runs)}
    outcomes = []
    for job in submitit.helpers.as_completed(jobs, poll_frequency=1 if cluster == "local" else 20):
        run = run_of[job.job_id]
        try:
            outcome = job.result()
        except Exception as e:  # the task itself died: time-out without requeue, node failure, cancel
            logger.error("%s: task %s ended without a result (%s); submitit's log: %s", run.name, job.job_id,
                         str(e).splitlines()[0] if str(e) else type(e).__name__, job.paths.stderr)
            outcome = Outcome(run, "submitted", -1)
        outcomes.append(outcome)
        logger.info("[%d/%d] %s", len(outcomes), len(runs), outcome.describe())
    order = {run.run_dir: i for i, run in enumerate(runs)}
    return sorted(outcomes, key=lambda o: order[o.run.run_dir])
