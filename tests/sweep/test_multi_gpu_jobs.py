"""``--gpus-per-job G`` (issue 22, item 11): a Slurm task with G > 1 GPUs trains in G processes
(torchrun), not in one process that uses GPU 0 alone."""
from __future__ import annotations

import os
import pickle

import pytest

from slim_dg.sweep import execution, local, slurm
from slim_dg.sweep.runs import Run
from slim_dg.sweep.state import START


def _run(tmp_path) -> Run:
    return Run(config_file="/cfg.yaml", dataset="digits_dg", method="erm", grid_point="", overrides=(),
               target="texture", seed=1, run_dir=str(tmp_path / "run"), cwd=str(tmp_path))


def test_train_command_starts_one_process_per_gpu(tmp_path):
    run = _run(tmp_path)
    one = execution.train_command(run, START, "train.py")
    assert one[1] == "train.py" and "torch.distributed.run" not in one
    four = execution.train_command(run, START, "train.py", nproc=4)
    assert four[1:5] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=4"]
    assert four[5:] == one[1:]


def test_slurm_tasks_carry_their_gpu_count_through_pickling_and_requeue(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(slurm, "execute", lambda run, env, **kw: seen.append(kw["nproc"]))

    class FakeExecutor:
        def map_array(self, job, runs):
            seen.append(job)
            return [type("Job", (), {"job_id": "7_0"})()]

    monkeypatch.setattr(slurm, "make_executor", lambda folder, cluster, **params: FakeExecutor())
    slurm.launch_slurm([_run(tmp_path)], str(tmp_path), wait=False, gpus_per_job=2)
    job = pickle.loads(pickle.dumps(seen.pop()))  # as submitit ships it to the task
    assert job.gpus == 2
    job(_run(tmp_path))
    requeued = job.checkpoint(_run(tmp_path)).function
    assert requeued.gpus == 2 and seen == [2]


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs CPU affinity and two CPUs")
def test_local_jobs_each_get_their_share_of_the_cpus(tmp_path):
    """``--jobs N``: each training sees 1/N of the CPUs, so ``DATALOADER.NUM_WORKERS -1`` sizes its
    loader workers by its share instead of starting up to 8 per loader in every job."""
    cpus = sorted(os.sched_getaffinity(0))
    shares = [local.cpu_share(slot, 2) for slot in range(2)]
    assert not set(shares[0]) & set(shares[1]) and all(len(s) == len(cpus) // 2 for s in shares)
    script = tmp_path / "report.py"
    script.write_text("import os, sys\nopen(sys.argv[sys.argv.index('--output-dir') + 1] + '.cpus', 'w')"
                      ".write(str(len(os.sched_getaffinity(0))))\n")
    run = _run(tmp_path)
    execution.execute(run, dict(os.environ), script=str(script), cpus=shares[1])
    assert open(run.run_dir + ".cpus").read() == str(len(cpus) // 2)
