"""Checkpoints written from a background thread (issue 21): a copy of the state at ``submit``, one write
pending at most, every file whole when training returns, and a write's error raised in the training thread."""
import os
import threading
import time

import pytest
import torch

from slim_dg.engine import checkpoint
from slim_dg.engine.checkpoint import BackgroundCheckpointWriter, load_checkpoint
from slim_dg.utils.disk import DiskFullError


def _slow_saves(monkeypatch, seconds=0.3):
    """``save_checkpoint`` that first sleeps: every write is still pending when ``submit`` returns."""
    real, started = checkpoint.save_checkpoint, []

    def slow(state, path):
        started.append(path)
        time.sleep(seconds)
        return real(state, path)

    monkeypatch.setattr(checkpoint, "save_checkpoint", slow)
    return started


def test_the_file_holds_the_state_at_submit_not_what_training_did_next(tmp_path, monkeypatch):
    _slow_saves(monkeypatch)
    weights, history = torch.zeros(4), [{"epoch": 1}]
    writer = BackgroundCheckpointWriter()
    path = str(tmp_path / "checkpoints" / "model-epoch1.pt")
    writer.submit({"model": {"w": weights}, "history": history}, path)
    weights.add_(1)  # the next step, while the write is pending
    history.append({"epoch": 2})
    history[0]["epoch"] = 99
    writer.wait()
    state = load_checkpoint(path)
    assert torch.equal(state["model"]["w"], torch.zeros(4)) and state["history"] == [{"epoch": 1}]
    assert os.listdir(tmp_path / "checkpoints") == ["model-epoch1.pt"]  # renamed into place, no temporary left


def test_at_most_one_write_is_pending(tmp_path, monkeypatch):
    started = _slow_saves(monkeypatch)
    writer = BackgroundCheckpointWriter()
    first, second = (str(tmp_path / f"model-epoch{i}.pt") for i in (1, 2))
    done = []
    writer.submit({"w": torch.ones(2)}, first, then=lambda: done.append(first))
    writer.submit({"w": torch.ones(2)}, second)  # waits for the first
    assert done == [first] and os.path.isfile(first) and started == [first, second]
    writer.wait()
    assert os.path.isfile(second) and threading.active_count() == 1 + sum(
        t.daemon for t in threading.enumerate())  # no checkpoint thread left behind


def test_a_failed_write_is_raised_in_the_training_thread(tmp_path, monkeypatch):
    def full(state, path):
        raise DiskFullError(f"No space left on the device writing checkpoint to {path}")

    monkeypatch.setattr(checkpoint, "save_checkpoint", full)
    writer = BackgroundCheckpointWriter()
    writer.submit({"w": torch.ones(2)}, str(tmp_path / "model-epoch1.pt"))
    with pytest.raises(DiskFullError, match="model-epoch1.pt"):
        writer.wait()
    writer.wait()  # raised once


def test_submit_raises_what_the_previous_write_raised(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "save_checkpoint", lambda state, path: 1 / 0)
    writer = BackgroundCheckpointWriter()
    writer.submit({"w": torch.ones(2)}, str(tmp_path / "a.pt"))
    with pytest.raises(ZeroDivisionError):
        writer.submit({"w": torch.ones(2)}, str(tmp_path / "b.pt"))


def test_a_run_returns_with_every_checkpoint_written(tmp_path, monkeypatch):
    from test_reliability import TINY, _tiny

    from slim_dg.engine.checkpoint import list_checkpoints
    from slim_dg.engine.launch import main

    _slow_saves(monkeypatch, seconds=3)  # the last epoch's write is still pending when training ends
    root, out = str(tmp_path / "data"), str(tmp_path / "run")
    _tiny(root)
    main(["--root", root, "--target-domains", "c", "--output-dir", out, *TINY, "OPTIM.MAX_EPOCH", "2"])
    assert not [t for t in threading.enumerate() if t.name.startswith("checkpoint")]
    names = sorted(os.listdir(os.path.join(out, "checkpoints")))
    assert "model-epoch2.pt" in names and not [n for n in names if n.endswith(".tmp")], names
    assert load_checkpoint(list_checkpoints(out)[-1])["epoch"] == 2
