"""train.py with DATALOADER.VERIFY_IMAGES (issue 20): every unreadable image named before training starts."""
import os

import pytest
from test_reliability import TINY, _tiny

from slim_dg.engine.launch import main


def _broken_png(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n truncated")


def test_train_stops_before_training_naming_every_bad_image(tmp_path, capsys):
    root = str(tmp_path / "data")
    _tiny(root, bad_image=True)  # a/x/broken.png
    _broken_png(os.path.join(root, "tiny", "c", "y", "also_broken.png"))  # in the target domain
    out = str(tmp_path / "out")
    with pytest.raises(SystemExit) as e:
        main(["--root", root, "--target-domains", "c", "--output-dir", out, *TINY])  # VERIFY_IMAGES is on by default
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: 2 of 26 listed images cannot be read:")
    assert "a/x/broken.png" in err and "c/y/also_broken.png" in err
    assert not os.path.exists(out)  # stopped before anything was written
