"""``--gpus-per-job G`` (issue 22, item 11): a Slurm task with G > 1 GPUs trains in G processes
(torchrun), not in one process that uses GPU 0 alone."""
from __future__ import annotations

import pickle

from slim_dg.sweep import execution, slurm
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
