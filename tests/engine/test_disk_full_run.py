"""A real run whose output dir is a small tmpfs (issue 20): the disk fills at the second checkpoint.

Needs root (it mounts one); skipped otherwise. The injected-ENOSPC unit tests in
tests/utils/test_disk_full.py always run.
"""
import os
import subprocess

import pytest
from test_reliability import TINY, _tiny

from slim_dg.engine.checkpoint import list_checkpoints, load_checkpoint
from slim_dg.engine.launch import main
from slim_dg.evaluation import read_results
from slim_dg.utils.logger import setup_logging

pytestmark = pytest.mark.slow  # a real training run


def _mount(path, size):
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True,
                          text=True)


@pytest.fixture
def small_disk(tmp_path):
    """A 60 MB tmpfs: room for one resnet10t checkpoint (about 40 MB), not two."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the injected-ENOSPC tests cover the same code")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = _mount(disk, "60m")
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        setup_logging(None)  # the run's log.txt stays open in this process until then
        subprocess.run(["umount", str(disk)], check=True)


def test_a_full_disk_stops_in_one_line_and_resume_continues_once_there_is_room(tmp_path, small_disk, capsys):
    root = str(tmp_path / "data")
    _tiny(root)
    run_dir = str(small_disk / "run")
    with pytest.raises(SystemExit) as e:
        main(["--root", root, "--target-domains", "c", "--output-dir", run_dir, *TINY, "OPTIM.MAX_EPOCH", "2"])
    assert e.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(
        f"error: No space left on the device writing checkpoint model-epoch2.pt to {run_dir}/checkpoints/"
        "model-epoch2.pt: it needs 3")  # about 39 MB
    assert f"`python tools/train.py --resume {run_dir}` continues" in err
    (first,) = list_checkpoints(run_dir)  # the partial model-epoch2.pt.tmp is gone, epoch 1 is whole
    assert os.listdir(os.path.dirname(first)) == ["model-epoch1.pt"]
    assert load_checkpoint(first)["epoch"] == 1

    subprocess.run(["mount", "-o", "remount,size=200m", str(small_disk)], check=True)  # space freed
    main(["--resume", run_dir])
    res = read_results(os.path.join(run_dir, "results.json"))
    assert res["epoch"] == 2 and [h["epoch"] for h in res["history"]] == [2]
