"""Sweeps that share an output directory (issue 20): each run is trained once, by whoever locks it first."""
import json
import os
import subprocess
import sys

import pytest

from slim_dg.sweep.cli import main
from slim_dg.utils.run_lock import RunLock

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ERM = os.path.join(REPO, "configs", "digits_dg_erm.yaml")
PLUGIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_train_plugin.py")
TARGETS = ("mono", "texture")


def _run_dir(out, target):
    return os.path.join(out, "digits_dg", "erm", target, "seed1")


def _trainings(out, target):
    with open(os.path.join(_run_dir(out, target), "calls.jsonl")) as f:
        return len(f.readlines())


@pytest.mark.slow
def test_two_concurrent_sweeps_train_every_run_once(tmp_path):
    out = str(tmp_path / "out")
    cmd = [sys.executable, os.path.join(REPO, "tools", "sweep.py"), "--config-file", ERM, "--targets", *TARGETS,
           "--output-dir", out, "--plugin", PLUGIN]
    env = dict(os.environ, PYTHONPATH=REPO, FAKE_TRAIN_SECONDS="4")
    sweeps = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO)
              for _ in range(2)]
    texts = [p.communicate(timeout=300)[0] for p in sweeps]
    assert [p.returncode for p in sweeps] == [0, 0], texts
    assert [_trainings(out, t) for t in TARGETS] == [1, 1]  # never twice, never by both
    assert not any("FAILED" in t for t in texts)
    assert any("running elsewhere (pid" in t for t in texts)  # they did overlap: one found the other's run
    for target in TARGETS:
        with open(os.path.join(_run_dir(out, target), "calls.jsonl")) as f:
            assert "--overwrite" not in json.loads(f.readline())["argv"]


def test_a_run_held_elsewhere_is_listed_not_started_and_not_failed(tmp_path, monkeypatch, capsys):
    from slim_dg.sweep import execution

    monkeypatch.setattr(execution, "train_script", lambda: os.path.join(os.path.dirname(PLUGIN), "fake_train.py"))
    out = str(tmp_path / "out")
    busy = RunLock.acquire(_run_dir(out, "mono"))  # as a train.py by hand would
    try:
        assert main(["--config-file", ERM, "--targets", *TARGETS, "--output-dir", out]) == 0
    finally:
        busy.release()
    text = capsys.readouterr().out
    assert "2 runs: 0 done, 1 to run (1 new, 0 to start over), 0 to resume, 1 running elsewhere" in text
    assert f"digits_dg/erm/mono/seed1  running elsewhere (pid {os.getpid()}, host " in text
    assert "Finished 1 of 1 runs" in text and "FAILED" not in text
    assert _trainings(out, "texture") == 1 and not os.path.exists(os.path.join(_run_dir(out, "mono"), "calls.jsonl"))
