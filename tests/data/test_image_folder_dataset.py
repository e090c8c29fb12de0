"""``image_folder``: domains discovered on disk, seeded per-domain split, and the training command line."""
from __future__ import annotations

import json
import os

import pytest
from dg_fakes import write_image

from slim_dg.config import ConfigError, get_cfg_defaults, validate_cfg
from slim_dg.data import DatasetMissingError
from slim_dg.data.datasets.image_folder import ImageFolderDG
from slim_dg.engine.launch import main

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build_tree(root, domains=("cartoon", "photo", "sketch"), classes=("cat", "dog"), per=10):
    for d in domains:
        for c in classes:
            for i in range(per):
                write_image(os.path.join(root, "toy", d, c, f"{i}.{'png' if i % 2 else 'JPG'}"), i * 20)
    write_image(os.path.join(root, "toy", "photo", "bird", "0.webp"))  # a class only one domain has
    open(os.path.join(root, "toy", "photo", "cat", "notes.txt"), "w").close()  # not an image


def _cfg(root, *targets, sources=()):
    cfg = get_cfg_defaults()
    cfg.DATASET.NAME, cfg.DATASET.ROOT, cfg.DATASET.IMAGE_FOLDER = "image_folder", str(root), "toy"
    cfg.DATASET.TARGET_DOMAINS, cfg.DATASET.SOURCE_DOMAINS = list(targets), list(sources)
    return cfg


def test_domains_classes_and_seeded_split(tmp_path):
    build_tree(str(tmp_path))
    ds = ImageFolderDG.from_config(_cfg(tmp_path, "sketch"))
    assert ds.domains == ("cartoon", "photo", "sketch") and ds.source_domains == ["cartoon", "photo"]
    assert ds.classnames == ["bird", "cat", "dog"]  # union over domains, sorted
    assert {d: len(v) for d, v in ds.val.items()} == {"cartoon": 2, "photo": 2}  # round(0.1 * 20 / 21)
    assert len(ds.train_x) == 18 + 19 and len(ds.test["sketch"]) == 20
    assert all(not x.impath.endswith(".txt") for x in ds.train_x)
    same = ImageFolderDG.from_config(_cfg(tmp_path, "sketch"))
    assert same.val == ds.val  # deterministic
    cfg = _cfg(tmp_path, "sketch")
    cfg.SEED = 7
    assert ImageFolderDG.from_config(cfg).val != ds.val  # the split follows SEED


def test_validation_discovers_domains(tmp_path):
    build_tree(str(tmp_path))
    cfg = _cfg(tmp_path, "sketch")
    validate_cfg(cfg)
    assert cfg.DATASET.SOURCE_DOMAINS == ["cartoon", "photo"]  # leave-one-domain-out
    with pytest.raises(ConfigError, match="Unknown domain 'skech'.*did you mean 'sketch'"):
        validate_cfg(_cfg(tmp_path, "skech"))


def test_missing_folder_and_unset_key(tmp_path):
    with pytest.raises(DatasetMissingError, match="no <domain>/<class>/<images> folders"):
        ImageFolderDG.from_config(_cfg(tmp_path, "sketch"))
    cfg = _cfg(tmp_path, "sketch")
    cfg.DATASET.IMAGE_FOLDER = ""
    with pytest.raises(ValueError, match="DATASET.IMAGE_FOLDER"):
        ImageFolderDG.from_config(cfg)


def test_trains_end_to_end_and_reports_each_target(tmp_path):
    build_tree(str(tmp_path))
    out = str(tmp_path / "run")
    main(["--root", str(tmp_path), "--target-domains", "sketch", "--output-dir", out,
          "DATASET.NAME", "image_folder", "DATASET.IMAGE_FOLDER", "toy", "INPUT.SIZE", "(16, 16)",
          "MODEL.BACKBONE.NAME", "resnet10t", "MODEL.BACKBONE.PRETRAINED", "False", "OPTIM.MAX_EPOCH", "1",
          "TRAIN.MAX_ITERS_PER_EPOCH", "1", "DATALOADER.TRAIN_X.BATCH_SIZE", "4", "DATALOADER.NUM_WORKERS", "0"])
    res = json.load(open(os.path.join(out, "results.json")))
    assert res["dataset"] == "image_folder" and res["target"]["sketch"]["num_samples"] == 20
    assert sorted(res["source_val"]) == ["cartoon", "photo"]


def test_training_on_a_missing_dataset_names_the_download_command(tmp_path, capsys):
    root = str(tmp_path / "data")
    with pytest.raises(SystemExit) as e:
        main(["--config-file", os.path.join(REPO, "configs", "pacs_erm.yaml"), "--root", root,
              "--target-domains", "sketch", "--output-dir", str(tmp_path / "run")])
    assert e.value.code == 2
    assert f"python tools/download.py --dataset pacs --root {root}" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "run")  # failed before any work
