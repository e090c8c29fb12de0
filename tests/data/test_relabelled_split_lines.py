"""Split-list lines whose label contradicts the image's class folder: the folder's class is used, one
warning names each line, and ``results.json`` counts them (``"relabelled"``)."""
from __future__ import annotations

import json
import os

import pytest
from dg_fakes import build_domainnet_domain, build_pacs

from slim_dg.data.datasets.base import DatasetMissingError
from slim_dg.data.datasets.domainnet import DomainNet
from slim_dg.data.datasets.pacs import PACS
from slim_dg.engine.launch import main

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = ["--config-file", os.path.join(REPO, "configs", "digits_dg_erm.yaml"), "--target-domains", "sketch",
        "DATASET.NAME", "pacs", "DATASET.DOWNLOAD", "False", "OPTIM.MAX_EPOCH", "1", "TRAIN.MAX_ITERS_PER_EPOCH", "1",
        "TRAIN.EVAL_FREQ", "0", "DATALOADER.TRAIN_X.BATCH_SIZE", "8", "MODEL.BACKBONE.NAME", "resnet10t"]


def _slip(path, old: str, new: str) -> int:
    """Replace one line's text; returns its (1-based) line number."""
    lines = open(path).read().splitlines()
    n = lines.index(old)
    lines[n] = new
    open(path, "w").write("\n".join(lines) + "\n")
    return n + 1


def test_pacs_line_with_a_wrong_label_trains_with_the_folder_class(tmp_path, capsys):
    build_pacs(str(tmp_path))
    lst = tmp_path / "pacs" / "splits" / "photo_train_kfold.txt"
    n = _slip(lst, "photo/giraffe/pic_000.jpg 3", "photo/giraffe/pic_000.jpg 7")  # 7: person
    main([*TINY, "--root", str(tmp_path), "--output-dir", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert out.count("contradicts the image's class folder") == 1
    assert f"{lst}:{n}: listed label 7, class used 3 (giraffe)" in out
    assert json.load(open(tmp_path / "out" / "results.json"))["relabelled"] == 1
    ds = PACS(str(tmp_path), ["photo"], ["sketch"])
    (datum,) = [d for d in ds.train_x if d.impath.endswith("photo/giraffe/pic_000.jpg")]
    assert ds.classnames[datum.label] == "giraffe" and len(ds.relabelled) == 1


def test_a_run_without_slips_reports_none(tmp_path):
    build_pacs(str(tmp_path))
    assert PACS(str(tmp_path), ["photo"], ["sketch"]).relabelled == []


def test_a_listed_image_that_does_not_exist_still_stops_the_run(tmp_path):
    build_pacs(str(tmp_path))
    _slip(tmp_path / "pacs" / "splits" / "photo_train_kfold.txt", "photo/dog/pic_000.jpg 1", "photo/dog/nope.jpg 1")
    with pytest.raises(DatasetMissingError, match="photo/dog/nope.jpg"):
        PACS(str(tmp_path), ["photo"], ["sketch"])


def test_domainnet_slip_gets_the_label_the_other_lines_give_its_folder(tmp_path):
    for d in ("clipart", "sketch"):
        build_domainnet_domain(str(tmp_path / "domainnet"), d)
    lst = tmp_path / "domainnet" / "splits" / "clipart_train.txt"
    old = "clipart/zigzag/clipart_344_000000.jpg 344"
    n = _slip(lst, old, old.replace(" 344", " 5"))  # 5 is The_Eiffel_Tower's label
    ds = DomainNet(str(tmp_path), ["clipart"], ["sketch"])
    assert [r.describe() for r in ds.relabelled] == [f"{lst}:{n}: listed label 5, class used 344 (zigzag)"]
    (datum,) = [d for d in ds.train_x if d.impath.endswith("clipart_344_000000.jpg")]
    assert datum.label == 344 and ds.classnames[344] == "zigzag"
