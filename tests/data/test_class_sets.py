"""Class sets across domains: a target's classes that no source trains on stop the run before any
work; ``DATASET.CLASS_MAP`` merges differently named folders; ``DATASET.ALLOW_UNSEEN_CLASSES``
evaluates anyway and counts them; a class only in a source's validation list is a warning."""
from __future__ import annotations

import json
import logging
import os

import pytest
from dg_fakes import build_domainnet_domain, build_pacs, write_image, write_text

from slim_dg.config import get_cfg_defaults
from slim_dg.data import build_dataset
from slim_dg.data.class_sets import UnseenClassesError
from slim_dg.engine.launch import main

RUN = ["INPUT.SIZE", "(16, 16)", "MODEL.BACKBONE.NAME", "resnet10t", "OPTIM.MAX_EPOCH", "1",
       "TRAIN.MAX_ITERS_PER_EPOCH", "1", "DATALOADER.TRAIN_X.BATCH_SIZE", "4", "DATALOADER.NUM_WORKERS", "0"]


def bilingual_tree(root) -> None:
    """``pets/``: two English domains, and a German one whose folders name the same two classes."""
    for d, names in (("photo", ("cat", "dog")), ("cartoon", ("cat", "dog")), ("zeichnung", ("katze", "hund"))):
        for c in names:
            for i in range(4):
                write_image(os.path.join(root, "pets", d, c, f"{i}.png"), 40 * i + len(c))


def _cfg(root, *opts):
    cfg = get_cfg_defaults()
    cfg.merge_from_list(["DATASET.NAME", "image_folder", "DATASET.ROOT", str(root), "DATASET.IMAGE_FOLDER", "pets",
                         "DATASET.SOURCE_DOMAINS", "['photo', 'cartoon']", "DATASET.TARGET_DOMAINS", "['zeichnung']",
                         *opts])
    return cfg


def _main(root, out, *opts):
    main(["--root", str(root), "--target-domains", "zeichnung", "--output-dir", str(out),
          "DATASET.NAME", "image_folder", "DATASET.IMAGE_FOLDER", "pets", *RUN, *opts])


def test_disjoint_class_names_stop_before_any_work(tmp_path, capsys):
    bilingual_tree(str(tmp_path))
    with pytest.raises(SystemExit) as e:
        _main(tmp_path, tmp_path / "run")
    assert e.value.code == 2 and not os.path.exists(tmp_path / "run")
    err = capsys.readouterr().err
    assert err.count("\n") == 1  # one line
    assert "zeichnung: 'hund', 'katze' (8 images)" in err
    assert "DATASET.CLASS_MAP" in err and "DATASET.ALLOW_UNSEEN_CLASSES True" in err
    with pytest.raises(UnseenClassesError):
        build_dataset(_cfg(tmp_path))


def test_a_class_map_merges_the_folders(tmp_path):
    bilingual_tree(str(tmp_path))
    write_text(str(tmp_path / "map.yaml"), ["zeichnung:", "  hund: dog", "  katze: cat"])
    ds = build_dataset(_cfg(tmp_path, "DATASET.CLASS_MAP", str(tmp_path / "map.yaml")))
    assert ds.classnames == ["cat", "dog"]
    folder_of = {x.impath: x.impath.split(os.sep)[-2] for x in ds.test["zeichnung"]}
    german = {"katze": "cat", "hund": "dog"}
    assert all(ds.classnames[x.label] == german[folder_of[x.impath]] for x in ds.test["zeichnung"])
    assert {x.label for x in ds.train_x} == {0, 1}
    # JSON is read too, and the whole run trains on the merged classes
    with open(tmp_path / "map.json", "w") as f:
        json.dump({"zeichnung": {"hund": "dog", "katze": "cat"}}, f)
    _main(tmp_path, tmp_path / "run", "DATASET.CLASS_MAP", str(tmp_path / "map.json"))
    res = json.load(open(tmp_path / "run" / "results.json"))
    assert res["num_classes_seen"] == {"photo": 2, "cartoon": 2, "zeichnung": 2}
    assert res["target"]["zeichnung"]["num_samples"] == 8 and "num_unseen_class_images" not in res


def test_allow_unseen_classes_runs_and_counts_them(tmp_path, capsys):
    bilingual_tree(str(tmp_path))
    write_image(str(tmp_path / "pets" / "zeichnung" / "cat" / "0.png"))  # one class the sources know
    _main(tmp_path, tmp_path / "run", "DATASET.ALLOW_UNSEEN_CLASSES", "True")
    res = json.load(open(tmp_path / "run" / "results.json"))
    assert res["num_unseen_class_images"] == {"zeichnung": 8}
    assert res["num_classes_seen"]["zeichnung"] == 3 and res["target"]["zeichnung"]["num_samples"] == 9
    log = open(tmp_path / "run" / "log.txt").read()
    assert "Domain zeichnung (target): 9 images of 3 classes" in log
    assert "Domain photo (source): 8 images of 2 classes (train " in log
    assert "zeichnung: 8 of 9 images ('hund', 'katze')" in log


def test_class_map_mistakes_are_one_clear_error(tmp_path):
    bilingual_tree(str(tmp_path))
    cases = {"zeichnung:\n  hnud: dog\n": "no class folder\\(s\\) 'hnud'; did you mean 'hund'",
             "zeichnug:\n  hund: dog\n": "unknown domain\\(s\\) zeichnug; did you mean 'zeichnung'",
             "- hund\n": "must map each domain to"}
    for text, match in cases.items():
        with open(tmp_path / "map.yaml", "w") as f:
            f.write(text)
        with pytest.raises(ValueError, match=match):
            build_dataset(_cfg(tmp_path, "DATASET.CLASS_MAP", str(tmp_path / "map.yaml")))
    with pytest.raises(FileNotFoundError, match="DATASET.CLASS_MAP: no file"):
        build_dataset(_cfg(tmp_path, "DATASET.CLASS_MAP", str(tmp_path / "nope.yaml")))
    build_pacs(str(tmp_path))  # labels from split lists: a class map cannot apply
    cfg = get_cfg_defaults()
    cfg.merge_from_list(["DATASET.NAME", "pacs", "DATASET.ROOT", str(tmp_path), "DATASET.CLASS_MAP",
                         str(tmp_path / "map.yaml"), "DATASET.TARGET_DOMAINS", "['sketch']",
                         "DATASET.SOURCE_DOMAINS", "['photo']"])
    with open(tmp_path / "map.yaml", "w") as f:
        f.write("photo:\n  dog: hund\n")
    with pytest.raises(ValueError, match="PACS does not take its labels from class folder names"):
        build_dataset(cfg)


def test_names_differing_in_case_or_spaces_are_reported(tmp_path, data_log, capsys):
    bilingual_tree(str(tmp_path))
    os.rename(tmp_path / "pets" / "zeichnung" / "hund", tmp_path / "pets" / "zeichnung" / "Dog ")
    os.rename(tmp_path / "pets" / "zeichnung" / "katze", tmp_path / "pets" / "zeichnung" / "cat")
    with pytest.raises(UnseenClassesError, match="'Dog ' ~ 'dog': same name up to case/spaces"):
        build_dataset(_cfg(tmp_path))
    warnings = [r.getMessage() for r in data_log.records if r.levelno == logging.WARNING]
    assert any("'Dog ' (zeichnung), 'dog' (cartoon, photo) differ only in case" in w and "DATASET.CLASS_MAP" in w
               for w in warnings)


def test_a_class_only_in_a_source_validation_list_is_a_warning(tmp_path, data_log):
    base = str(tmp_path / "domainnet")
    for d in ("painting", "real"):
        build_domainnet_domain(base, d)
    rel = "painting/zebra/painting_343_000000.jpg"  # only the test list of painting has this class
    write_image(os.path.join(base, rel))
    with open(os.path.join(base, "splits", "painting_test.txt"), "a") as f:
        f.write(f"{rel} 343\n")
    cfg = get_cfg_defaults()
    cfg.merge_from_list(["DATASET.NAME", "domainnet", "DATASET.ROOT", str(tmp_path),
                         "DATASET.SOURCE_DOMAINS", "['painting']", "DATASET.TARGET_DOMAINS", "['real']"])
    build_dataset(cfg)
    warnings = [r.getMessage() for r in data_log.records if r.levelno == logging.WARNING]
    assert warnings == ["Source painting: class(es) 'zebra' are in its validation split but in no source's "
                        "training split; source validation counts them as errors"]
