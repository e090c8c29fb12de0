"""Each real dataset parses a tiny tree in its real on-disk layout, and fails clearly when incomplete."""
from __future__ import annotations

import os
import shutil

import pytest
from dg_fakes import (DN_CLASSES, PACS_CLASSES, build_domainnet_domain, build_officehome_release, build_pacs,
                      build_split_folders)

from slim_dg.config import get_cfg_defaults, merge_from_file, validate_cfg
from slim_dg.data import DATASET_REGISTRY, DatasetMissingError, build_dataset
from slim_dg.data.datasets.digits_dg_dassl import DigitsDGDassl
from slim_dg.data.datasets.domainnet import DomainNet
from slim_dg.data.datasets.downloadable import DownloadableDataset
from slim_dg.data.datasets.mini_domainnet import MiniDomainNet
from slim_dg.data.datasets.officehome import CLASSNAMES as OFFICE_CLASSES
from slim_dg.data.datasets.officehome import OfficeHome
from slim_dg.data.datasets.pacs import PACS
from slim_dg.data.datasets.vlcs import VLCS
from slim_dg.data.download.verify import verify_dataset

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOWNLOADABLE = [n for n in DATASET_REGISTRY.names() if issubclass(DATASET_REGISTRY.get(n), DownloadableDataset)]


def _labels(data):
    return sorted({d.label for d in data})


# -- registry and declared facts --------------------------------------------------------------------------
@pytest.mark.parametrize("name", DOWNLOADABLE)
def test_every_downloadable_dataset_declares_name_sources_and_layout(name):
    cls = DATASET_REGISTRY.get(name)
    assert cls.name == name and cls.dataset_dir
    if cls.download.__func__ is DownloadableDataset.download.__func__:  # ours, not a package's (wilds, torchvision)
        assert cls.sources and all(s.urls and s.place for s in cls.sources)
    readme = open(os.path.join(REPO, "datasets", "README.md")).read()
    assert f"`{name}`" in readme  # its layout is documented


def test_published_counts():
    assert sum(PACS.expected_counts.values()) == 9991
    assert sum(OfficeHome.expected_counts.values()) == 15588 and len(OFFICE_CLASSES) == 65
    assert sum(DomainNet.expected_counts.values()) == 586575
    assert OFFICE_CLASSES.index("TV") < OFFICE_CLASSES.index("Table")  # folder (sorted) order


@pytest.mark.parametrize("dataset", ["pacs", "officehome", "domainnet"])
def test_lodo_configs_validate(dataset):
    for f in sorted(os.listdir(os.path.join(REPO, "configs"))):
        if f.startswith(dataset + "_") and f.endswith(".yaml"):
            cfg = get_cfg_defaults()
            merge_from_file(cfg, os.path.join(REPO, "configs", f))
            cls = DATASET_REGISTRY.get(cfg.DATASET.NAME)
            cfg.DATASET.TARGET_DOMAINS = [cls.domains[0]]
            validate_cfg(cfg)
            assert cfg.DATASET.SOURCE_DOMAINS == list(cls.domains[1:])  # leave-one-domain-out


# -- PACS -----------------------------------------------------------------------------------------------
def test_pacs_splits_match_the_lists(tmp_path):
    build_pacs(str(tmp_path))
    ds = PACS(str(tmp_path), ["art_painting", "cartoon", "sketch"], ["photo"])
    assert ds.num_classes == 7 and ds.classnames[6] == "person"
    wanted = sorted(v - 1 for v in PACS_CLASSES.values())  # 1-based in the lists
    assert _labels(ds.train_x) == wanted
    for d in ds.train_x:
        assert ds.classnames[d.label] == d.impath.split(os.sep)[-2]
    by_domain = {d: sum(x.domain == d for x in ds.train_x) for d in ("art_painting", "cartoon", "sketch")}
    assert by_domain == {"art_painting": 6, "cartoon": 6, "sketch": 6}  # sketch's unreadable image left out
    assert all(len(v) == 3 for v in ds.val.values()) and all("pic_002" in x.impath for v in ds.val.values() for x in v)
    assert len(ds.test["photo"]) == 9 and {x.domain for x in ds.test["photo"]} == {"photo"}


@pytest.mark.parametrize("damage, expected", [
    (lambda r: shutil.rmtree(r / "pacs" / "images" / "cartoon"), "pacs/images/cartoon"),
    (lambda r: os.remove(r / "pacs" / "splits" / "cartoon_crossval_kfold.txt"), "cartoon_crossval_kfold.txt"),
    (lambda r: os.remove(r / "pacs" / "images" / "cartoon" / "dog" / "pic_000.jpg"), "cartoon/dog/pic_000.jpg"),
])
def test_pacs_incomplete_names_what_is_missing(tmp_path, damage, expected):
    build_pacs(str(tmp_path))
    damage(tmp_path)
    with pytest.raises(DatasetMissingError, match=expected):
        PACS(str(tmp_path), ["art_painting", "cartoon"], ["photo"])


def test_missing_dataset_names_the_download_command(tmp_path):
    with pytest.raises(DatasetMissingError) as e:
        PACS(str(tmp_path), [], ["photo"])
    assert f"python tools/download.py --dataset pacs --root {tmp_path}" in str(e.value)


def test_pacs_wrong_label_base_is_caught(tmp_path):
    build_pacs(str(tmp_path))
    lst = tmp_path / "pacs" / "splits" / "photo_train_kfold.txt"
    lst.write_text(lst.read_text().replace(".jpg 1", ".jpg 0"))
    with pytest.raises(ValueError, match="labels are 1-7"):
        PACS(str(tmp_path), ["photo"], ["sketch"])


# -- OfficeHome -----------------------------------------------------------------------------------------
def test_officehome_release_layout_with_real_world_space(tmp_path):
    build_officehome_release(str(tmp_path), list(OFFICE_CLASSES))
    os.rename(tmp_path / "OfficeHomeDataset_10072016", tmp_path / "office_home")  # as unpacked by hand
    ds = OfficeHome(str(tmp_path), ["Art", "Clipart", "Product"], ["Real_World"], val_ratio=0.2)
    assert ds.num_classes == 65 and ds.domains == ("Art", "Clipart", "Product", "Real_World")
    assert {x.domain for x in ds.test["Real_World"]} == {"Real_World"} and len(ds.test["Real_World"]) == 65
    assert _labels(ds.test["Real_World"]) == list(range(65))
    for d in ds.train_x:
        assert OFFICE_CLASSES[d.label] == d.impath.split(os.sep)[-2]
    counts = verify_dataset(OfficeHome, str(tmp_path), expected={d: 65 for d in ds.domains})
    assert counts.ok, counts.format()


def test_officehome_missing_class_folder(tmp_path):
    build_officehome_release(str(tmp_path), list(OFFICE_CLASSES))
    os.rename(tmp_path / "OfficeHomeDataset_10072016", tmp_path / "office_home")
    shutil.rmtree(tmp_path / "office_home" / "Clipart" / "Webcam")
    with pytest.raises(DatasetMissingError, match="Clipart/Webcam"):
        OfficeHome(str(tmp_path), ["Clipart"], ["Art"])
    with pytest.raises(DatasetMissingError, match="office_home/Product"):
        shutil.rmtree(tmp_path / "office_home" / "Product")
        OfficeHome(str(tmp_path), ["Art"], ["Product"])


def test_officehome_download_renames_real_world(tmp_path, monkeypatch):
    from dg_fakes import LocalServer, sha256, zip_dir

    build_officehome_release(str(tmp_path / "src"), list(OFFICE_CLASSES[:3]))
    data = zip_dir(str(tmp_path / "src"), str(tmp_path / "oh.zip"))
    with LocalServer() as srv:
        srv.files["/oh.zip"] = data
        src = OfficeHome.sources[0]
        monkeypatch.setattr(OfficeHome, "sources", (type(src)(src.filename, (srv.url("/oh.zip"),), src.place,
                                                             sha256=sha256(data)),))
        OfficeHome.download(str(tmp_path / "root"), progress=False)
    assert sorted(os.listdir(tmp_path / "root" / "office_home")) == ["Art", "Clipart", "Product", "Real_World"]


# -- DomainNet and miniDomainNet ---------------------------------------------------------------------
def _listed(lines):
    return sorted(line.rsplit(maxsplit=1)[0] for line in lines)


def _paths(data, root):
    return sorted(os.path.relpath(d.impath, root).replace(os.sep, "/") for d in data)


def test_domainnet_official_lists(tmp_path):
    lists = {d: build_domainnet_domain(str(tmp_path / "domainnet"), d) for d in ("clipart", "real", "sketch")}
    ds = DomainNet(str(tmp_path), ["clipart", "real"], ["sketch"])
    assert ds.num_classes == 345
    assert ds.classnames[5] == "The_Eiffel_Tower" and ds.classnames[344] == "zigzag"
    assert _labels(ds.train_x) == sorted(DN_CLASSES.values())
    assert len(ds.train_x) == 2 * 6 and {d: len(v) for d, v in ds.val.items()} == {"clipart": 3, "real": 3}
    # Dassl's protocol: the target is tested on exactly its test list
    assert _paths(ds.test["sketch"], tmp_path / "domainnet") == _listed(lists["sketch"][1])
    with pytest.raises(DatasetMissingError, match="domainnet/painting"):
        DomainNet(str(tmp_path), ["clipart"], ["painting"])


@pytest.mark.parametrize("cls, split_dir, classes", [
    (DomainNet, "splits", DN_CLASSES), (MiniDomainNet, "splits_mini", {"aircraft_carrier": 0, "zebra": 125})])
def test_domainnet_targets_follow_target_split(tmp_path, cls, split_dir, classes):
    lists = {d: build_domainnet_domain(str(tmp_path / "domainnet"), d, split_dir=split_dir, classes=classes)
             for d in ("clipart", "painting")}
    cfg = get_cfg_defaults()
    cfg.DATASET.NAME, cfg.DATASET.ROOT = cls.name, str(tmp_path)
    cfg.DATASET.SOURCE_DOMAINS, cfg.DATASET.TARGET_DOMAINS = ["clipart"], ["painting"]
    train, test = lists["painting"]
    counts = {}
    for split in ("test", "all"):
        cfg.DATASET.TARGET_SPLIT = split
        ds = build_dataset(cfg)
        counts[split] = len(ds.test["painting"])
        assert _paths(ds.test["painting"], tmp_path / "domainnet") == _listed(test if split == "test" else train + test)
        assert len(ds.train_x) == len(lists["clipart"][0]) and len(ds.val["clipart"]) == len(lists["clipart"][1])
    assert counts == {"test": len(test), "all": len(train) + len(test)} and counts["test"] < counts["all"]


def test_domainnet_inconsistent_labels_are_caught(tmp_path):
    build_domainnet_domain(str(tmp_path / "domainnet"), "clipart")
    build_domainnet_domain(str(tmp_path / "domainnet"), "real", classes={"zigzag": 7})
    with pytest.raises(ValueError, match="other lines give label 344 to 'zigzag'"):
        DomainNet(str(tmp_path), ["clipart"], ["real"])


def test_mini_domainnet_uses_splits_mini(tmp_path):
    for d in ("clipart", "painting"):
        build_domainnet_domain(str(tmp_path / "domainnet"), d, split_dir="splits_mini",
                               classes={"aircraft_carrier": 0, "zebra": 125})
    ds = MiniDomainNet(str(tmp_path), ["clipart"], ["painting"])
    assert ds.num_classes == 126 and ds.domains == ("clipart", "painting", "real", "sketch")
    assert _labels(ds.train_x) == [0, 125] and len(ds.test["painting"]) == 2  # its test list
    with pytest.raises(DatasetMissingError, match="splits_mini/real_test.txt"):
        os.makedirs(tmp_path / "domainnet" / "real")
        MiniDomainNet(str(tmp_path), ["clipart"], ["real"])


# -- VLCS and Dassl's Digits-DG ---------------------------------------------------------------------
def test_vlcs_follows_dassl_protocol(tmp_path):
    classes = ["bird", "car", "chair", "dog", "person"]
    build_split_folders(str(tmp_path / "VLCS"), ["CALTECH", "LABELME", "PASCAL", "SUN"],
                         ["train", "crossval", "test"], classes)
    ds = VLCS(str(tmp_path), ["caltech", "labelme"], ["sun"])
    assert ds.classnames == classes and _labels(ds.train_x) == list(range(5))
    assert all("train_" in os.path.basename(x.impath) for x in ds.train_x)
    assert all("crossval_" in os.path.basename(x.impath) for v in ds.val.values() for x in v)
    assert len(ds.test["sun"]) == 10 and all("test_" in os.path.basename(x.impath) for x in ds.test["sun"])
    assert len(VLCS(str(tmp_path), ["caltech"], ["sun"], target_split="all").test["sun"]) == 30
    assert verify_dataset(VLCS, str(tmp_path), expected={d: 30 for d in VLCS.domains}).ok
    shutil.rmtree(tmp_path / "VLCS" / "SUN" / "test" / "dog")
    with pytest.raises(DatasetMissingError, match="SUN/test"):
        VLCS(str(tmp_path), ["caltech"], ["sun"])


def test_digits_dg_dassl_layout(tmp_path):
    build_split_folders(str(tmp_path / "digits_dg_dassl"), DigitsDGDassl.domains, ["train", "val"],
                         [str(i) for i in range(10)], per=1)
    ds = DigitsDGDassl(str(tmp_path), ["mnist", "syn"], ["svhn"])
    assert _labels(ds.train_x) == list(range(10)) and len(ds.train_x) == 20
    assert {d: len(v) for d, v in ds.val.items()} == {"mnist": 10, "syn": 10} and len(ds.test["svhn"]) == 20
    report = verify_dataset(DigitsDGDassl, str(tmp_path), expected={d: 20 for d in DigitsDGDassl.domains})
    assert report.ok and not verify_dataset(DigitsDGDassl, str(tmp_path)).ok  # the real counts are 6,000
    shutil.rmtree(tmp_path / "digits_dg_dassl" / "syn" / "val")
    with pytest.raises(DatasetMissingError, match="syn/val"):
        DigitsDGDassl(str(tmp_path), ["syn"], ["svhn"])


@pytest.mark.parametrize("name", sorted(f[:-5] for f in os.listdir(os.path.join(REPO, "configs", "datasets"))))
def test_dataset_configs_validate(name):
    cfg = get_cfg_defaults()
    merge_from_file(cfg, os.path.join(REPO, "configs", "datasets", f"{name}.yaml"))
    cls = DATASET_REGISTRY.get(cfg.DATASET.NAME)
    if cls.domains and not cfg.DATASET.TARGET_DOMAINS:
        cfg.DATASET.TARGET_DOMAINS = [cls.domains[-1]]
    validate_cfg(cfg)
    if name == "wilds_camelyon17":  # LODO fill-in gives exactly the official training hospitals
        assert cfg.DATASET.SOURCE_DOMAINS == ["hospital0", "hospital3", "hospital4"]
