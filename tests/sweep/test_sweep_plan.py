"""What a sweep runs, where, and what it does with each run's state; tools/train.py is replaced by
``fake_train.py`` (same flags and files, no torch), so these take milliseconds per run."""
import json
import os

import pytest

from slim_dg.sweep import execution, slurm
from slim_dg.sweep.cli import main
from slim_dg.sweep.runs import expand_runs, method_name, parse_grid, split_values
from slim_dg.sweep.state import RESTART, START, resolve_config, run_state

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ERM = os.path.join(REPO, "configs", "digits_dg_erm.yaml")
SLIM = os.path.join(REPO, "configs", "digits_dg_advstyle_slim.yaml")
FAKE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_train.py")
DOMAINS = ["mono", "inverse", "color", "texture"]


@pytest.fixture
def fake_train(monkeypatch):
    monkeypatch.setattr(execution, "train_script", lambda: FAKE)
    monkeypatch.setattr(slurm, "train_script", lambda: FAKE)


def _calls(run_dir, what="argv"):
    return [json.loads(line)[what] for line in open(os.path.join(run_dir, "calls.jsonl"))]


def test_method_names_and_grid_parsing():
    assert method_name("configs/digits_dg_advstyle_slim.yaml", "digits_dg") == "advstyle_slim"
    assert method_name("elsewhere/my_experiment.yaml", "digits_dg") == "my_experiment"
    assert split_values("a, [1,2],(3, 4)") == ["a", "[1,2]", "(3, 4)"]
    assert parse_grid(["SLIM.LOSS=cosine,reverse", "OPTIM.LR=0.1,0.01"]) == [
        (("SLIM.LOSS", "cosine"), ("OPTIM.LR", "0.1")), (("SLIM.LOSS", "cosine"), ("OPTIM.LR", "0.01")),
        (("SLIM.LOSS", "reverse"), ("OPTIM.LR", "0.1")), (("SLIM.LOSS", "reverse"), ("OPTIM.LR", "0.01"))]
    assert parse_grid([]) == [()]
    for bad in (["SLIM.LOSS"], ["SLIM.LOSS="], ["A=1", "A=2"]):
        with pytest.raises(ValueError):
            parse_grid(bad)


def test_lodo_every_domain_is_a_target_once_per_seed(tmp_path):
    out = str(tmp_path / "out")
    runs = expand_runs([ERM, ERM], [1, 2], out)  # a config given twice runs once
    assert [(r.target, r.seed) for r in runs] == [(d, s) for d in DOMAINS for s in (1, 2)]
    assert runs[0].run_dir == os.path.join(out, "digits_dg", "erm", "mono", "seed1")
    assert runs[0].log_path == runs[0].run_dir + ".log"
    cfg = resolve_config(runs[-1])
    assert list(cfg.DATASET.TARGET_DOMAINS) == ["texture"] and list(cfg.DATASET.SOURCE_DOMAINS) == DOMAINS[:3]
    assert cfg.SEED == 2 and cfg.OUTPUT_DIR == runs[-1].run_dir
    assert [r.target for r in expand_runs([ERM], [1], out, targets=["texture", "mono"])] == ["mono", "texture"]


def test_grid_points_get_their_own_dirs_and_overrides(tmp_path, fake_train, capsys):
    out = str(tmp_path / "out")
    args = ["--config-file", SLIM, "--seeds", "1", "--targets", "texture", "--output-dir", out,
            "--grid", "SLIM.LOSS=cosine,orthogonal", "--opts", "OPTIM.MAX_EPOCH", "1"]
    assert main([*args, "--dry-run"]) == 0
    listing = capsys.readouterr().out
    assert "2 runs: 0 done, 2 to run" in listing
    for loss in ("cosine", "orthogonal"):
        assert os.path.join(out, "digits_dg", "advstyle_slim", f"SLIM.LOSS={loss}", "texture", "seed1") in listing
    assert not os.path.exists(out)  # a dry run creates nothing
    assert main(args) == 0
    base = os.path.join(out, "digits_dg", "advstyle_slim")
    assert sorted(os.listdir(base)) == ["SLIM.LOSS=cosine", "SLIM.LOSS=orthogonal"]
    for loss in ("cosine", "orthogonal"):
        (argv,) = _calls(os.path.join(base, f"SLIM.LOSS={loss}", "texture", "seed1"))
        assert argv[-4:] == ["OPTIM.MAX_EPOCH", "1", "SLIM.LOSS", loss]  # fixed --opts, then the grid point
        assert argv[argv.index("--target-domains") + 1] == "texture" and "--source-domains" not in argv


def test_a_failed_run_is_reported_and_the_others_finish(tmp_path, fake_train, monkeypatch, capsys):
    out = str(tmp_path / "out")
    args = ["--config-file", ERM, "--seeds", "1", "2", "3", "--targets", "texture", "mono", "--output-dir", out,
            "--jobs", "2"]
    monkeypatch.setenv("FAKE_TRAIN_FAIL", "seed2")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")  # as if on a machine with GPUs 3 and 5
    assert main(args) == 1
    devices = [_calls(os.path.join(out, "digits_dg", "erm", t, f"seed{s}"), "cuda") for t in ("mono", "texture")
               for s in (1, 2, 3)]
    assert sorted({d for (d,) in devices}) == ["3", "5"]  # one GPU per process, both used
    text = capsys.readouterr().out
    assert "Finished 4 of 6 runs; 2 FAILED" in text
    for target in ("mono", "texture"):
        run_dir = os.path.join(out, "digits_dg", "erm", target, "seed2")
        assert f"log: {run_dir}.log" in text and "exit 3" in open(run_dir + ".log").read()
        for seed in (1, 3):
            assert os.path.isfile(os.path.join(out, "digits_dg", "erm", target, f"seed{seed}", "results.json"))

    # the failed runs left a checkpoint but no config.yaml (a crash before train.py wrote it): start over
    monkeypatch.delenv("FAKE_TRAIN_FAIL")
    assert main(args) == 0
    assert "6 runs: 4 done, 2 to run (0 new, 2 to start over), 0 to resume" in capsys.readouterr().out
    for target in ("mono", "texture"):
        first, second = _calls(os.path.join(out, "digits_dg", "erm", target, "seed2"))
        assert "--overwrite" not in first and second[0] == "--overwrite"
        assert len(_calls(os.path.join(out, "digits_dg", "erm", target, "seed1"))) == 1


def test_state_of_a_run_dir(tmp_path):
    (run,) = expand_runs([ERM], [1], str(tmp_path), targets=["texture"])
    assert run_state(run)[0] == START
    os.makedirs(run.run_dir)
    assert run_state(run)[0] == START  # empty
    open(os.path.join(run.run_dir, "config.yaml"), "w").write(resolve_config(run).dump())
    assert run_state(run)[0] == RESTART  # no checkpoint to resume from
    open(os.path.join(run.run_dir, "results.json"), "w").write('{"truncated": ')
    assert run_state(run)[0] == RESTART  # an unreadable results.json is not a finished run


@pytest.mark.parametrize("extra,message", [
    (["--targets", "txture"], "selects no domain of digits_dg (%s); its domains: mono, inverse, color, texture" % ERM),
    (["--targets", "texture", "txture"], "--targets txture: not a domain of any swept dataset"),
    (["--grid", "SLIM.LOS=cosine"], "Did you mean: SLIM.LOSS"),
    (["--grid", "SLIM.LOSS=cosine", "--opts", "SLIM.LOSS", "reverse"], "set both by --opts and by --grid"),
    (["--opts", "OPTIM.LR"], "KEY VALUE pairs"),
    (["--opts", "DATASET.NAME", "pacss"], "Unknown dataset 'pacss'"),
], ids=["target", "one bad target", "grid key", "fixed and grid", "odd opts", "dataset"])
def test_bad_input_fails_before_anything_runs(tmp_path, fake_train, capsys, extra, message):
    out = str(tmp_path / "out")
    assert main(["--config-file", ERM, "--output-dir", out, *extra]) == 2
    assert message in capsys.readouterr().err
    assert not os.path.exists(out)


def test_repeated_list_flags_add_up(tmp_path, capsys):
    # "--grid A --grid B" is the product of both (a second flag used to replace the first)
    out = str(tmp_path / "out")
    assert main(["--config-file", SLIM, "--seeds", "1", "--seeds", "2", "--targets", "texture", "--output-dir", out,
                 "--grid", "SLIM.LAMBDA_MIN=-10.0", "--grid", "SLIM.LAMBDA_MAX=10.0,5.0", "--dry-run"]) == 0
    listing = capsys.readouterr().out
    assert "4 runs: 0 done, 4 to run" in listing
    point = os.path.join(out, "digits_dg", "advstyle_slim", "SLIM.LAMBDA_MIN=-10.0,SLIM.LAMBDA_MAX=5.0", "texture")
    assert os.path.join(point, "seed1") in listing and os.path.join(point, "seed2") in listing
