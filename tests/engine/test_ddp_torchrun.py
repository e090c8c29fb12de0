"""``torchrun --nproc_per_node 2 tools/train.py`` on CPU (gloo), end to end on digits_dg (issue 9):
it trains, only rank 0 writes, its per-domain evaluation equals a single process's evaluation of
the same weights (exact counts), and a run resumed under DDP ends with the uninterrupted run's
weights and results."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from slim_dg.engine.checkpoint import list_checkpoints, load_checkpoint
from slim_dg.engine.launch import main

pytestmark = pytest.mark.slow  # DDP: torchrun, 2 processes

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# AdvStyle + SLIM: several forwards per step (clean with taps, inner loop, adversarial) through DDP
RUN = ["--config-file", os.path.join(REPO, "configs", "digits_dg_advstyle_slim.yaml"), "--target-domains", "texture",
       "MODEL.BACKBONE.NAME", "resnet10t", "OPTIM.MAX_EPOCH", "2", "TRAIN.MAX_ITERS_PER_EPOCH", "4",
       "DATALOADER.TRAIN_X.BATCH_SIZE", "8", "OPTIM.LR", "0.005", "TRAIN.CHECKPOINT_KEEP", "0",
       "TRAIN.CHECKPOINT_FREQ", "2", "TRAIN.PRINT_FREQ", "1"]


def torchrun(*args: str, nproc: int = 2) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           os.path.join(REPO, "tools", "train.py"), *args]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory, digits_root):
    out = str(tmp_path_factory.mktemp("ddp") / "run")
    proc = torchrun(*RUN, "--root", digits_root, "--output-dir", out)
    return out, proc


def _results(run_dir: str) -> dict:
    with open(os.path.join(run_dir, "results.json")) as f:
        return json.load(f)


def test_ddp_trains_and_only_rank0_writes(ddp_run):
    out, proc = ddp_run
    log = open(os.path.join(out, "log.txt")).read()
    assert "DDP over 2 processes" in log
    steps = [line for line in log.splitlines() if " iter " in line and " loss " in line]
    assert len(steps) == 8  # 2 epochs x 4 steps, logged once (by rank 0), not once per process
    res = _results(out)
    assert res["target"]["texture"]["num_samples"] == 449  # every target image once, none twice
    assert {d: m["num_samples"] for d, m in res["source_val"].items()} == {"mono": 46, "inverse": 46, "color": 52}
    assert [h["epoch"] for h in res["history"]] == [1, 2]
    first = load_checkpoint(list_checkpoints(out)[0])["model"]
    final = load_checkpoint(os.path.join(out, "checkpoints", "model-epoch2.pt"))
    assert any(not torch.equal(first[k], v) for k, v in final["model"].items() if v.is_floating_point())
    assert len(final["per_process"]) == 2  # every process's random state, for an exact resume
    assert not any(k.startswith("module.") for k in final["model"])  # loadable without DDP
    assert sorted(os.listdir(out)) == [".lock", "checkpoints", "config.yaml", "log.txt", "results.json", "tensorboard"]
    assert len(os.listdir(os.path.join(out, "tensorboard"))) == 1  # one events file: rank 0's


def test_ddp_evaluation_equals_single_process_evaluation(ddp_run, tmp_path):
    out, _ = ddp_run
    single = str(tmp_path / "eval")
    main(["--eval-only", "--model-dir", out, "--output-dir", single])  # this process: no DDP
    ddp, one = _results(out), _results(single)
    assert one["target"] == ddp["target"] and one["source_val"] == ddp["source_val"]  # accuracy and counts


def test_resume_under_ddp_ends_like_the_uninterrupted_run(ddp_run, tmp_path):
    out, _ = ddp_run
    resumed = str(tmp_path / "resumed")
    shutil.copytree(out, resumed)
    for path in list_checkpoints(resumed):  # back to the middle of epoch 2
        if os.path.basename(path) in ("model-epoch2.pt",):
            os.remove(path)
    os.remove(os.path.join(resumed, "results.json"))
    assert os.path.basename(list_checkpoints(resumed)[-1]) == "model-epoch1-step2.pt"
    torchrun("--resume", resumed)
    a = load_checkpoint(os.path.join(out, "checkpoints", "model-epoch2.pt"))["model"]
    b = load_checkpoint(os.path.join(resumed, "checkpoints", "model-epoch2.pt"))["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    ra, rb = _results(out), _results(resumed)
    assert ra["target"] == rb["target"] and ra["source_val"] == rb["source_val"]
