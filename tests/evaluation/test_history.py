"""results.json keeps every evaluation of a run (``history``), also across --resume (issue 6)."""
import json
import os
import shutil

import pytest
import torch

from slim_dg.engine.checkpoint import load_checkpoint
from slim_dg.engine.launch import main

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN = ["--config-file", os.path.join(REPO, "configs", "digits_dg_erm.yaml"), "--target-domains", "texture",
       "MODEL.BACKBONE.NAME", "resnet10t", "OPTIM.MAX_EPOCH", "2", "TRAIN.MAX_ITERS_PER_EPOCH", "2",
       "TRAIN.EVAL_FREQ", "1", "TRAIN.CHECKPOINT_FREQ", "1", "TRAIN.CHECKPOINT_KEEP", "0",
       "DATALOADER.TRAIN_X.BATCH_SIZE", "8"]


def _results(run_dir):
    return json.load(open(os.path.join(run_dir, "results.json")))


def _resumed(reference, tmp_path, name, remove):
    """A copy of the finished run cut back to an earlier moment, then resumed."""
    run = str(tmp_path / name)
    shutil.copytree(reference, run)
    for f in ["results.json", *(os.path.join("checkpoints", c) for c in remove)]:
        os.remove(os.path.join(run, f))
    main(["--resume", run])
    return run


@pytest.mark.slow
def test_history_has_every_evaluation_and_survives_resume(tmp_path, digits_root):
    ref = str(tmp_path / "ref")
    main([*RUN, "--root", digits_root, "--output-dir", ref])
    res = _results(ref)
    assert [h["epoch"] for h in res["history"]] == [1, 2]  # EVAL_FREQ 1, 2 epochs: 2 evaluations
    for h in res["history"]:
        assert list(h["target"]) == ["texture"] and sorted(h["source_val"]) == ["color", "inverse", "mono"]
        assert h["target"]["texture"]["num_samples"] == 449
    assert res["history"][-1] == {"epoch": 2, "target": res["target"], "source_val": res["source_val"]}

    # stopped mid-epoch 2: its checkpoint already holds epoch 1's evaluation
    mid = _resumed(ref, tmp_path, "mid", ["model-epoch2.pt"])
    # stopped at the end of epoch 1, whose checkpoint is written before that epoch is evaluated
    boundary = _resumed(ref, tmp_path, "boundary", ["model-epoch2.pt", "model-epoch1-step1.pt"])
    # trained to the end, stopped before the final evaluation
    final = _resumed(ref, tmp_path, "final", [])
    for run in (mid, boundary, final):
        assert _results(run) == res, run
    a, b = (load_checkpoint(os.path.join(d, "checkpoints", "model-epoch2.pt"))["model"] for d in (ref, boundary))
    assert all(torch.equal(a[k], b[k]) for k in a)  # evaluating on resume changes nothing in training
    assert "before its evaluation: evaluating it now" in open(os.path.join(boundary, "log.txt")).read()

    ev = str(tmp_path / "eval")
    main(["--eval-only", "--model-dir", ref, "--load-epoch", "1", "--output-dir", ev])
    assert [h["epoch"] for h in _results(ev)["history"]] == [1]
    assert _results(ev)["target"] == res["history"][0]["target"]
