"""CIFAR-10/100 through the real code path, on a generated stand-in in torchvision's on-disk format:
pickles -> PNGs -> the usual loaders; a fixed held-out validation split; torchvision's download
(served from 127.0.0.1) and the error that names the download command."""
from __future__ import annotations

import functools
import hashlib
import http.server
import os
import tarfile
import threading

import numpy as np
import pytest
import torchvision.datasets

from slim_dg.config import get_cfg_defaults, validate_cfg
from slim_dg.data import DatasetMissingError, build_data_loaders
from slim_dg.data.build import decode_rgb
from slim_dg.data.datasets.cifar import CIFAR10, CIFAR100, read_batches
from slim_dg.data.datasets.cifar_standin import CIFAR10_CLASSES, write_standin
from slim_dg.data.download.install import DownloadError


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("cifar"))
    write_standin(root, "cifar10", num_train=120, num_test=30, seed=0)
    write_standin(root, "cifar100", num_train=100, num_test=20, seed=1)
    return root


def test_splits_and_images_come_from_the_pickles(root):
    ds = CIFAR10(root, ["train"], ["test"], val_ratio=0.25)
    assert ds.classnames == CIFAR10_CLASSES and ds.num_classes == 10
    assert list(ds.val) == ["val"] and list(ds.test) == ["test"]
    assert len(ds.val["val"]) == 30 and len(ds.train_x) == 90 and len(ds.test["test"]) == 30
    assert not {d.impath for d in ds.val["val"]} & {d.impath for d in ds.train_x}
    # the same held-out images every time (a fixed permutation, not the run seed)
    again = CIFAR10(root, ["train"], ["test"], val_ratio=0.25)
    assert [d.impath for d in again.val["val"]] == [d.impath for d in ds.val["val"]]
    images, labels = read_batches(os.path.join(root, "cifar10", "cifar-10-batches-py"),
                                  list(CIFAR10.test_files), "labels")
    for d in ds.test["test"][:5]:
        i = int(os.path.basename(d.impath)[:-4])
        assert d.label == labels[i]
        assert np.array_equal(decode_rgb(d.impath).permute(1, 2, 0).numpy(), images[i])


def test_cifar100_and_loaders(root):
    cfg = get_cfg_defaults()
    cfg.merge_from_list(["DATASET.NAME", "cifar100", "DATASET.ROOT", root, "INPUT.SIZE", "(32, 32)",
                         "DATALOADER.NUM_WORKERS", "0", "DATALOADER.TRAIN_X.BATCH_SIZE", "8"])
    validate_cfg(cfg)  # fills in the domains
    assert cfg.DATASET.SOURCE_DOMAINS == ["train"] and cfg.DATASET.TARGET_DOMAINS == ["test"]
    ds = CIFAR100.from_config(cfg)
    assert ds.num_classes == 100 and len(ds.val["val"]) == 10
    train, val, test = build_data_loaders(cfg, ds)
    batch = next(iter(train))
    assert batch["img"].shape == (8, 3, 32, 32) and set(val) == {"val"} and set(test) == {"test"}


def test_missing_data_names_the_download_command(tmp_path):
    with pytest.raises(DatasetMissingError, match="tools/download.py --dataset cifar10"):
        CIFAR10(str(tmp_path), ["train"], ["test"])


def _md5(path):
    return hashlib.md5(open(path, "rb").read()).hexdigest()


@pytest.fixture
def served_cifar(tmp_path, monkeypatch):
    """A stand-in archive served on 127.0.0.1, with torchvision's URL and checksums pointed at it."""
    src = tmp_path / "src"
    folder = write_standin(str(src), "cifar10", num_train=50, num_test=10)
    archive = tmp_path / "www" / torchvision.datasets.CIFAR10.filename
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(archive.parent))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    cls = torchvision.datasets.CIFAR10
    monkeypatch.setattr(cls, "url", f"http://127.0.0.1:{server.server_port}/{archive.name}")
    monkeypatch.setattr(cls, "tgz_md5", _md5(archive))
    monkeypatch.setattr(cls, "train_list", [[n, _md5(os.path.join(folder, n))] for n in CIFAR10.train_files])
    monkeypatch.setattr(cls, "test_list", [["test_batch", _md5(os.path.join(folder, "test_batch"))]])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": _md5(os.path.join(folder, "batches.meta"))})
    yield server
    server.shutdown()


def test_download_through_torchvision(tmp_path, served_cifar):
    root = str(tmp_path / "datasets")
    CIFAR10.download(root, progress=False)
    assert not os.path.exists(os.path.join(root, "cifar10", torchvision.datasets.CIFAR10.filename))
    assert CIFAR10.open(root).count_images() == {"train": 50, "test": 10}


def test_download_failure_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "url", "http://127.0.0.1:9/cifar-10-python.tar.gz")
    with pytest.raises(DownloadError, match="tools/download.py --dataset cifar10"):
        CIFAR10.download(str(tmp_path), progress=False)
