"""WILDS datasets: official splits and metadata domains mapped onto per-domain reporting, on tiny
trees in the real WILDS on-disk layout (no network)."""
from __future__ import annotations

import os

import pandas as pd
import pytest
from dg_fakes import closed_port_url, write_image

from slim_dg.data import DatasetMissingError
from slim_dg.data.datasets.wilds_base import wilds_class
from slim_dg.data.datasets.wilds_camelyon17 import WildsCamelyon17
from slim_dg.data.datasets.wilds_iwildcam import WildsIWildCam
from slim_dg.data.download.install import DownloadError
from slim_dg.data.download.verify import verify_dataset


def build_camelyon17(root: str, per_center: int = 3) -> str:
    """``camelyon17_v1.0/`` with ``per_center`` patches per hospital (the last one of a training
    hospital in the id_val split, as the metadata's split column marks it)."""
    data_dir = os.path.join(root, "camelyon17_v1.0")
    rows = []
    for center in range(5):
        patient = f"{center * 10 + 4:03d}"
        for i in range(per_center):
            node, x, y = center % 5, 100 * i, 200 * i
            rows.append({"patient": patient, "node": node, "x_coord": x, "y_coord": y, "tumor": i % 2,
                         "slide": center * 2, "center": center, "split": int(i == per_center - 1)})
            write_image(os.path.join(data_dir, "patches", f"patient_{patient}_node_{node}",
                                     f"patch_patient_{patient}_node_{node}_x_{x}_y_{y}.png"), i)
    pd.DataFrame(rows).to_csv(os.path.join(data_dir, "metadata.csv"))  # wilds reads it with index_col=0
    open(os.path.join(data_dir, "RELEASE_v1.0.txt"), "w").close()
    return data_dir


def build_iwildcam(root: str) -> str:
    data_dir = os.path.join(root, "iwildcam_v2.0")
    plan = {0: ["train", "train", "id_val", "id_test"], 1: ["train", "train", "id_val"], 2: ["val", "val"],
            3: ["test", "test", "test"]}
    rows, seq = [], 0
    for loc, splits in plan.items():
        for i, split in enumerate(splits):
            name = f"img_{loc}_{i}.jpg"
            write_image(os.path.join(data_dir, "train", name), i)
            rows.append({"split": split, "filename": name, "y": (loc + i) % 3, "location_remapped": loc,
                         "sequence_remapped": seq, "datetime": f"2013-0{loc + 1}-0{i + 1} 10:00:00.000"})
            seq += 1
    pd.DataFrame(rows).to_csv(os.path.join(data_dir, "metadata.csv"), index=False)
    open(os.path.join(data_dir, "RELEASE_v2.0.txt"), "w").close()
    return data_dir


def test_declared_release_is_the_one_wilds_reads():
    for cls in (WildsCamelyon17, WildsIWildCam):
        versions = wilds_class(cls.wilds_class_path)._versions_dict
        assert max(versions, key=lambda v: tuple(map(int, v.split(".")))) == cls.version
        assert cls.dataset_dir == f"{cls.wilds_name}_v{cls.version}"


def test_camelyon17_hospitals_and_official_split(tmp_path):
    build_camelyon17(str(tmp_path))
    ds = WildsCamelyon17(str(tmp_path), [], ["hospital1", "hospital2"])
    assert ds.source_domains == ["hospital0", "hospital3", "hospital4"]  # the official training hospitals
    assert ds.num_classes == 2 and ds.classnames == ["normal", "tumor"]
    assert len(ds.train_x) == 3 * 2 and {d: len(v) for d, v in ds.val.items()} == {
        "hospital0": 1, "hospital3": 1, "hospital4": 1}  # id_val rows
    assert {d: len(v) for d, v in ds.test.items()} == {"hospital1": 3, "hospital2": 3}  # each reported alone
    assert {x.domain for x in ds.test["hospital2"]} == {"hospital2"}
    assert all(os.path.isfile(x.impath) for x in ds.train_x) and sorted({x.label for x in ds.train_x}) == [0, 1]
    report = verify_dataset(WildsCamelyon17, str(tmp_path), expected={f"hospital{i}": 3 for i in range(5)})
    assert report.ok, report.format()
    assert not verify_dataset(WildsCamelyon17, str(tmp_path)).ok  # the real counts


def test_camelyon17_refuses_to_mix_official_roles(tmp_path):
    build_camelyon17(str(tmp_path))
    with pytest.raises(ValueError, match="source domains must be training domains"):
        WildsCamelyon17(str(tmp_path), ["hospital0", "hospital2"], ["hospital1"])
    with pytest.raises(ValueError, match="not allowed here: hospital3"):
        WildsCamelyon17(str(tmp_path), ["hospital0"], ["hospital3"])


def test_camelyon17_missing_or_incomplete(tmp_path):
    with pytest.raises(DatasetMissingError, match=f"--dataset wilds_camelyon17 --root {tmp_path}"):
        WildsCamelyon17(str(tmp_path), [], ["hospital2"])
    data_dir = build_camelyon17(str(tmp_path))
    os.remove(os.path.join(data_dir, "patches", "patient_024_node_2", "patch_patient_024_node_2_x_0_y_0.png"))
    with pytest.raises(DatasetMissingError, match="patch_patient_024_node_2_x_0_y_0.png"):
        WildsCamelyon17(str(tmp_path), [], ["hospital2"])


def test_iwildcam_locations_from_metadata(tmp_path):
    build_iwildcam(str(tmp_path))
    ds = WildsIWildCam(str(tmp_path), [], [])
    assert ds.domains == ("location0", "location1", "location2", "location3")
    assert ds.source_domains == ["location0", "location1"] and ds.target_domains == ["location3"]  # official test
    assert len(ds.train_x) == 4 and {d: len(v) for d, v in ds.val.items()} == {"location0": 1, "location1": 1}
    assert {d: len(v) for d, v in ds.test.items()} == {"location3": 3} and ds.num_classes == 3
    assert all(os.path.dirname(x.impath).endswith(os.path.join("iwildcam_v2.0", "train")) for x in ds.train_x)
    ds2 = WildsIWildCam(str(tmp_path), ["location1"], ["location2", "location3"])  # OOD val locations too
    assert sorted(ds2.test) == ["location2", "location3"]
    expected = {"train": 4, "id_val": 2, "id_test": 1, "val": 2, "test": 3}
    assert verify_dataset(WildsIWildCam, str(tmp_path), expected=expected).ok


def test_wilds_offline_download_gives_manual_instructions(tmp_path, monkeypatch):
    cls = wilds_class(WildsCamelyon17.wilds_class_path)
    url = closed_port_url("/camelyon17/")
    monkeypatch.setattr(cls, "_versions_dict", {"1.0": {"download_url": url, "compressed_size": 1000}})
    with pytest.raises(DownloadError) as e:
        WildsCamelyon17.download(str(tmp_path))
    msg = str(e.value)
    assert url in msg and os.path.join(str(tmp_path), "camelyon17_v1.0", "RELEASE_v1.0.txt") in msg
    assert f"python tools/download.py --dataset wilds_camelyon17 --root {tmp_path} --verify" in msg


def test_config_validation_fills_in_the_official_roles(tmp_path):
    from slim_dg.config import ConfigError, get_cfg_defaults, validate_cfg

    build_iwildcam(str(tmp_path))
    cfg = get_cfg_defaults()
    cfg.DATASET.NAME, cfg.DATASET.ROOT = "wilds_iwildcam", str(tmp_path)
    validate_cfg(cfg)  # results.json then names the domains the run really used
    assert cfg.DATASET.SOURCE_DOMAINS == ["location0", "location1"] and cfg.DATASET.TARGET_DOMAINS == ["location3"]
    cfg = get_cfg_defaults()
    cfg.DATASET.NAME, cfg.DATASET.ROOT, cfg.DATASET.TARGET_DOMAINS = "wilds_iwildcam", str(tmp_path), ["locaton3"]
    with pytest.raises(ConfigError, match="did you mean 'location3'"):
        validate_cfg(cfg)
