"""The CLIs' error policy: bad input is one line on stderr and exit status 2; any other exception is
a bug and keeps its traceback, whatever its type (a KeyError raised in a hook is not bad input)."""
from __future__ import annotations

import os

import pytest

from slim_dg.analysis import cli as analyze_cli
from slim_dg.analysis import robustness_cli
from slim_dg.engine import hooks
from slim_dg.engine.launch import main as train_main
from slim_dg.evaluation import collect as collect_cli
from slim_dg.sweep import cli as sweep_cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUGS = [KeyError("'a key a hook looked up'"), FileNotFoundError("a file a hook opened"), TypeError("a bad call")]


def _bug(error):
    def raise_it(*args, **kwargs):
        raise error

    return raise_it


def _train_argv(digits_root, tmp_path, *opts):
    return ["--config-file", os.path.join(REPO, "configs", "digits_dg_erm.yaml"), "--root", digits_root,
            "--target-domains", "texture", "--output-dir", str(tmp_path / "run"), "MODEL.BACKBONE.NAME", "resnet10t",
            "OPTIM.MAX_EPOCH", "1", "TRAIN.MAX_ITERS_PER_EPOCH", "1", "DATALOADER.TRAIN_X.BATCH_SIZE", "8", *opts]


@pytest.mark.parametrize("error", BUGS, ids=lambda e: type(e).__name__)
def test_a_bug_in_a_hook_keeps_its_traceback(digits_root, tmp_path, monkeypatch, error):
    monkeypatch.setattr(hooks.CheckpointHook, "after_step", _bug(error))
    with pytest.raises(type(error)) as raised:
        train_main(_train_argv(digits_root, tmp_path, "TRAIN.CHECKPOINT_FREQ", "1"))
    assert raised.value is error  # raised as it was, not re-raised as another type


def test_bad_input_is_one_line_and_exit_2(digits_root, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        train_main(_train_argv(digits_root, tmp_path, "TRAINER.NAME", "ERMM"))
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "did you mean 'ERM'" in err
    assert not os.path.exists(tmp_path / "run")  # nothing ran: no run dir left behind


@pytest.mark.parametrize("error", BUGS, ids=lambda e: type(e).__name__)
def test_the_other_clis_let_a_bug_through(tmp_path, monkeypatch, error):
    monkeypatch.setattr(analyze_cli, "load_run", _bug(error))
    with pytest.raises(type(error)):
        analyze_cli.main(["hessian", "--model-dir", str(tmp_path)])
    monkeypatch.setattr(robustness_cli, "evaluate_run", _bug(error))
    with pytest.raises(type(error)):
        robustness_cli.main(["--model-dir", str(tmp_path), "--attacks", "cw"])
    monkeypatch.setattr(sweep_cli, "expand_runs", _bug(error))
    with pytest.raises(type(error)):
        sweep_cli.main(["--config-file", "x.yaml", "--output-dir", str(tmp_path)])
    monkeypatch.setattr(collect_cli, "collect", _bug(error))
    with pytest.raises(type(error)):
        collect_cli.main([str(tmp_path)])


def test_the_other_clis_report_bad_input_in_one_line(tmp_path, capsys):
    for main, argv in [(analyze_cli.main, ["hessian", "--model-dir", str(tmp_path)]),
                       (robustness_cli.main, ["--model-dir", str(tmp_path), "--attacks", "cw"]),
                       (sweep_cli.main, ["--config-file", str(tmp_path / "missing.yaml"), "--output-dir",
                                         str(tmp_path)]),
                       (collect_cli.main, [str(tmp_path)])]:
        assert main(argv) == 2, main.__module__
        err = capsys.readouterr().err
        assert err.count("\n") == 1, (main.__module__, err)
