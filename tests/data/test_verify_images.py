"""DATALOADER.VERIFY_IMAGES and ``tools/download.py --verify`` (issue 20): every listed image decoded
once, up front, and all unreadable ones reported at once. (train.py: tests/engine/test_verify_images_run.py)"""
import os

import numpy as np
import pytest

from dg_fakes import build_pacs
from PIL import Image

from slim_dg.data.download import cli
from slim_dg.data.datasets.base import Datum
from slim_dg.data.datasets.pacs import PACS
from slim_dg.data.verify_images import UnreadableImagesError, find_unreadable, verify_images


def _png(path, broken=False):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if broken:
        with open(path, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n truncated")
    else:
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path)
    return path


def test_every_unreadable_image_is_found_in_order(tmp_path):
    paths = [_png(str(tmp_path / f"{i}.png"), broken=i in (1, 4)) for i in range(6)]
    bad = find_unreadable(paths, threads=3)
    assert [p for p, _ in bad] == [paths[1], paths[4]] and all(why for _, why in bad)


def test_verify_fails_listing_all_at_once_or_warns_when_skipping(tmp_path, caplog):
    good = [Datum(_png(str(tmp_path / f"g{i}.png")), 0, "a") for i in range(3)]
    bad = [Datum(_png(str(tmp_path / f"b{i}.png"), broken=True), 0, "a") for i in range(2)]
    train, test = [good[0], bad[0], good[1]], [good[2], bad[1], bad[0]]  # one bad image listed twice
    with pytest.raises(UnreadableImagesError) as e:
        verify_images([train, test], "fail", threads=2)
    msg = str(e.value)
    assert msg.startswith("2 of 5 listed images cannot be read:\n")
    assert bad[0].impath in msg and bad[1].impath in msg and "DATALOADER.ON_BAD_IMAGE skip" in msg
    verify_images([train, test], "skip", threads=2)  # no error: a warning naming both
    assert "They are skipped" in caplog.text and bad[1].impath in caplog.text


def test_download_verify_decodes_every_image(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(PACS, "expected_counts", build_pacs(str(tmp_path)))
    assert cli.main(["--dataset", "pacs", "--root", str(tmp_path), "--verify"]) == 0
    assert "all 36 images decode" in capsys.readouterr().out
    broken = tmp_path / "pacs" / "images" / "photo" / "dog" / "pic_001.jpg"
    broken.write_bytes(broken.read_bytes()[:40])  # a truncated download
    assert cli.main(["--dataset", "pacs", "--root", str(tmp_path), "--verify"]) == 1
    out = capsys.readouterr().out
    assert "pacs: OK" in out  # the counts are right ...
    assert f"1 of 36 listed images cannot be read:\n  {broken}: " in out  # ... one image is not
