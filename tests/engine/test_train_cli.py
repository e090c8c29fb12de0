"""End to end through ``tools/train.py``'s code path on the embedded digits_dg data."""
import json
import os
import subprocess
import sys

import pytest

from slim_dg.engine.launch import main
from slim_dg.evaluation import validate_results

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAST = ["OPTIM.MAX_EPOCH", "2", "TRAIN.MAX_ITERS_PER_EPOCH", "3", "DATALOADER.TRAIN_X.BATCH_SIZE", "16",
        "MODEL.BACKBONE.NAME", "resnet10t"]


def _train(tmp_path, digits_root, *extra, name="run"):
    out = str(tmp_path / name)
    main(["--config-file", os.path.join(REPO, "configs", "digits_dg_erm.yaml"), "--root", digits_root,
          "--target-domains", "texture", "color", "--output-dir", out, *extra, *FAST])
    return out


@pytest.mark.slow
def test_run_writes_the_output_dir_of_design_5(tmp_path, digits_root):
    out = _train(tmp_path, digits_root, "DATALOADER.NUM_WORKERS", "2")  # worker processes, too
    res = json.load(open(os.path.join(out, "results.json")))
    validate_results(res)
    assert res["target_domains"] == ["texture", "color"] and sorted(res["target"]) == ["color", "texture"]
    assert res["source_domains"] == ["mono", "inverse"] and sorted(res["source_val"]) == ["inverse", "mono"]
    assert res["target"]["texture"]["num_samples"] == 449  # a target is tested on all its images
    assert res["epoch"] == 2 and res["trainer"] == "ERM" and res["dataset"] == "digits_dg"
    for f in ("config.yaml", "log.txt", "checkpoints/model-epoch1.pt", "checkpoints/model-epoch2.pt"):
        assert os.path.isfile(os.path.join(out, f)), f
    assert any(n.startswith("events.out.tfevents") for n in os.listdir(os.path.join(out, "tensorboard")))


@pytest.mark.slow
def test_non_empty_output_dir_needs_resume_or_overwrite(tmp_path, digits_root, capsys):
    out = _train(tmp_path, digits_root)
    with pytest.raises(SystemExit):
        _train(tmp_path, digits_root)
    err = capsys.readouterr().err
    assert "--resume" in err and "--overwrite" in err
    _train(tmp_path, digits_root, "--overwrite")
    assert os.path.isfile(os.path.join(out, "results.json"))


@pytest.mark.slow
def test_eval_only_and_resume_of_a_finished_run(tmp_path, digits_root):
    out = _train(tmp_path, digits_root)
    first = json.load(open(os.path.join(out, "results.json")))
    ev = str(tmp_path / "eval")
    main(["--config-file", os.path.join(out, "config.yaml"), "--eval-only", "--model-dir", out,
          "--output-dir", ev])
    again = json.load(open(os.path.join(ev, "results.json")))
    assert again["target"] == first["target"] and again["source_val"] == first["source_val"]


@pytest.mark.slow
def test_bad_input_exits_with_one_clear_line(tmp_path, digits_root):
    proc = subprocess.run([sys.executable, os.path.join(REPO, "tools", "train.py"), "--config-file",
                           os.path.join(REPO, "configs", "digits_dg_erm.yaml"), "--target-domains", "txture",
                           "--output-dir", str(tmp_path / "x")], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    assert "Unknown domain 'txture' in DATASET.TARGET_DOMAINS; did you mean 'texture'?" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not os.path.exists(tmp_path / "x")  # failed before any work
