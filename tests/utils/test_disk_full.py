"""A full disk (issue 20): one line saying what, where and how much; the partial file removed; what
was there before intact. ``ENOSPC`` is injected into the file a write opens (always runs)."""
import errno
import io
import os

import pytest
import torch

from slim_dg.engine.checkpoint import load_checkpoint, save_checkpoint, serialized_size
from slim_dg.evaluation import collect
from slim_dg.evaluation.results import write_results
from slim_dg.utils import disk
from slim_dg.utils.disk import DiskFullError, human


class FillingFile(io.FileIO):
    """A real file on which the device is full after ``room`` bytes: the write raises ``ENOSPC``."""

    def __init__(self, path, mode, room):
        super().__init__(path, mode.replace("b", "").replace("t", "") or "r")
        self.room = room

    def write(self, b):
        if len(b) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(b)
        return super().write(b)


def fill_after(monkeypatch, module, room: int) -> None:
    """Writes that ``module`` opens run out of space after ``room`` bytes (text or binary)."""
    def fake_open(path, mode="r", *args, **kwargs):
        f = FillingFile(path, mode, room)
        return f if "b" in mode else io.TextIOWrapper(io.BufferedWriter(f, 64), write_through=True)

    monkeypatch.setattr(module, "open", fake_open, raising=False)


def _state(n: int = 200_000) -> dict:
    return {"model": {"w": torch.randn(n)}, "epoch": 1}


def test_checkpoint_on_a_full_disk_is_one_line_and_keeps_the_earlier_one(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    first = save_checkpoint(_state(), str(run_dir / "checkpoints" / "model-epoch1.pt"))
    before = load_checkpoint(first)
    state = _state()
    path = str(run_dir / "checkpoints" / "model-epoch2.pt")
    fill_after(monkeypatch, disk, 100_000)  # torch's writer fails mid-file: its RuntimeError hides the OSError
    with pytest.raises(DiskFullError) as e:
        save_checkpoint(state, path)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(f"No space left on the device writing checkpoint model-epoch2.pt to {path}: it needs "
                          f"{human(serialized_size(state))}, ")
    assert f"`python tools/train.py --resume {run_dir}` continues from its newest checkpoint" in msg
    assert sorted(os.listdir(run_dir / "checkpoints")) == ["model-epoch1.pt"]  # no .tmp, no epoch 2
    assert torch.equal(load_checkpoint(first)["model"]["w"], before["model"]["w"])


def test_a_failure_that_is_not_about_space_keeps_its_own_error(tmp_path, monkeypatch):
    def broken_open(path, mode="r", *a, **k):
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(disk, "open", broken_open, raising=False)
    with pytest.raises(OSError, match="I/O error"):
        save_checkpoint(_state(10), str(tmp_path / "checkpoints" / "model-epoch1.pt"))


RESULTS = {"dataset": "digits_dg", "trainer": "ERM", "backbone": "resnet10t", "seed": 1, "source_domains": ["mono"],
           "target_domains": ["texture"], "target": {"texture": {"accuracy": 50.0, "num_samples": 10}},
           "source_val": {"mono": {"accuracy": 60.0, "num_samples": 5}}, "epoch": 1}


def test_results_json_on_a_full_disk_keeps_the_previous_one(tmp_path, monkeypatch):
    path = write_results(str(tmp_path), RESULTS)
    old = open(path).read()
    fill_after(monkeypatch, disk, 10)
    with pytest.raises(DiskFullError, match=f"writing the results to {path}: it needs .* B, .* free there. The "
                                            "partial file was removed; free some space, then run again"):
        write_results(str(tmp_path), dict(RESULTS, epoch=2))
    assert open(path).read() == old and os.listdir(tmp_path) == ["results.json"]


def test_collect_on_a_full_disk_exits_1_with_one_line(tmp_path, monkeypatch, capsys):
    write_results(str(tmp_path / "digits_dg" / "erm" / "texture" / "seed1"), RESULTS)
    os.makedirs(tmp_path / "tables")
    fill_after(monkeypatch, disk, 20)
    assert collect.main([str(tmp_path), "--format", "md", "--output-dir", str(tmp_path / "tables")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"writing the md table to {tmp_path / 'tables' / 'digits_dg_source_val.md'}" in err
    assert os.listdir(tmp_path / "tables") == []  # the partial table was removed


def test_serialized_size_is_the_file_size(tmp_path):
    state = _state(1234)
    assert serialized_size(state) == os.path.getsize(save_checkpoint(state, str(tmp_path / "c" / "m.pt")))
