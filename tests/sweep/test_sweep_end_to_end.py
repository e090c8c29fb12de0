"""Tiny real sweeps through tools/train.py: the local pool and submitit's local executor (issue 6).

Two configs x two seeds x one target, 1 epoch of 2 steps on resnet10t: what a sweep over the
whole of digits_dg does, with every run a real training process.
"""
import json
import os

import pytest

from slim_dg.evaluation import read_results
from slim_dg.sweep.cli import main

pytestmark = pytest.mark.slow  # real training processes

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = [os.path.join(REPO, "configs", f"digits_dg_{m}.yaml") for m in ("erm", "advstyle_slim")]
FAST = ["OPTIM.MAX_EPOCH", "1", "TRAIN.MAX_ITERS_PER_EPOCH", "2", "MODEL.BACKBONE.NAME", "resnet10t",
        "DATALOADER.TRAIN_X.BATCH_SIZE", "8"]
RUNS = [f"digits_dg/{m}/texture/seed{s}" for m in ("erm", "advstyle_slim") for s in (1, 2)]


def _sweep(out, digits_root, *extra):
    return main(["--config-file", *CONFIGS, "--seeds", "1", "2", "--targets", "texture", "--output-dir", out,
                 *extra, "--opts", *FAST, "DATASET.ROOT", digits_root])


def _logs(out):
    return {r: open(os.path.join(out, r + ".log")).read() for r in RUNS}


def _check_done(out):
    for r in RUNS:
        res = read_results(os.path.join(out, r, "results.json"))
        assert res["target_domains"] == ["texture"] and res["seed"] == int(r[-1])
        assert res["source_domains"] == ["mono", "inverse", "color"]  # LODO: every other domain
        assert [h["epoch"] for h in res["history"]] == [1]


def test_local_pool_runs_skips_and_reruns_only_what_is_missing(tmp_path, digits_root, capsys):
    out = str(tmp_path / "sweep")
    assert _sweep(out, digits_root, "--jobs", "2") == 0
    assert "4 runs: 0 done, 4 to run (4 new, 0 to start over), 0 to resume" in capsys.readouterr().out
    _check_done(out)
    assert json.load(open(os.path.join(out, RUNS[2], "results.json")))["trainer"] == "AdvStyleSLIM"
    logs = _logs(out)

    assert _sweep(out, digits_root) == 0  # everything is done: nothing starts
    assert "4 runs: 4 done, 0 to run" in capsys.readouterr().out
    assert _logs(out) == logs

    os.remove(os.path.join(out, RUNS[1], "results.json"))  # its checkpoints are still there
    assert _sweep(out, digits_root) == 0
    assert "4 runs: 3 done, 0 to run (0 new, 0 to start over), 1 to resume" in capsys.readouterr().out
    _check_done(out)
    after = _logs(out)
    assert {r for r in RUNS if after[r] != logs[r]} == {RUNS[1]}
    assert "sweep: resume" in after[RUNS[1]] and "--resume" in after[RUNS[1]]

    # a finished run is never silently reused for another config
    assert main(["--config-file", *CONFIGS, "--seeds", "1", "2", "--targets", "texture", "--output-dir", out,
                 "--opts", *FAST, "DATASET.ROOT", digits_root, "OPTIM.LR", "0.5"]) == 1
    assert "4 in conflict" in capsys.readouterr().out
    assert _logs(out) == after


def test_submitit_local_executor_runs_the_same_sweep(tmp_path, digits_root, capsys):
    # one seed here (each submitit task imports slim_dg and then starts train.py: twice the start-up cost)
    out = str(tmp_path / "sweep")
    args = ["--config-file", *CONFIGS, "--seeds", "1", "--targets", "texture", "--output-dir", out,
            "--launcher", "submitit-local", "--gpus-per-job", "0", "--cpus-per-job", "1",
            "--opts", *FAST, "DATASET.ROOT", digits_root]
    assert main(args) == 0
    assert "Submitted 2 task(s)" in capsys.readouterr().out
    for m in ("erm", "advstyle_slim"):
        res = read_results(os.path.join(out, "digits_dg", m, "texture", "seed1", "results.json"))
        assert res["seed"] == 1 and [h["epoch"] for h in res["history"]] == [1]
    assert os.listdir(os.path.join(out, ".submitit"))  # submitit's own logs and pickles
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "2 runs: 2 done, 0 to run" in text and "Submitted" not in text
