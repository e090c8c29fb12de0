"""The dataset registry's contract: every registered dataset builds from a tiny tree in its real on-disk
layout and feeds one ERM training step. A dataset registered without a tiny tree here fails the first
test, which says what to add."""
from __future__ import annotations

import os

import pytest
from dg_fakes import PACS_DOMAINS, build_domainnet_domain, build_officehome_release, build_pacs, build_split_folders
from test_image_folder_dataset import build_tree as build_image_folder
from test_wilds_datasets import build_camelyon17, build_iwildcam

from slim_dg.config import get_cfg_defaults, merge_from_list, validate_cfg
from slim_dg.data import DATASET_REGISTRY
from slim_dg.data.datasets.cifar_standin import write_standin
from slim_dg.data.datasets.digits_dg import generate_digits_dg
from slim_dg.data.datasets.officehome import CLASSNAMES as OFFICE_CLASSES
from slim_dg.engine import build_trainer


def _officehome(root):
    build_officehome_release(root, list(OFFICE_CLASSES))
    os.rename(os.path.join(root, "OfficeHomeDataset_10072016"), os.path.join(root, "office_home"))


# dataset -> (writes a tiny tree under DATASET.ROOT, the config keys that pick its domains)
TINY_TREES = {
    "cifar10": (lambda r: write_standin(r, "cifar10", num_train=40, num_test=10, seed=0),
                ["DATASET.TARGET_DOMAINS", "['test']"]),
    "cifar100": (lambda r: write_standin(r, "cifar100", num_train=40, num_test=10, seed=0),  # 40 images: not all
                 ["DATASET.TARGET_DOMAINS", "['test']", "DATASET.ALLOW_UNSEEN_CLASSES", "True"]),  # 100 classes
    "digits_dg": (lambda r: generate_digits_dg(os.path.join(r, "digits_dg")), ["DATASET.TARGET_DOMAINS", "['texture']"]),
    "digits_dg_dassl": (lambda r: build_split_folders(os.path.join(r, "digits_dg_dassl"), ["mnist", "mnist_m", "svhn", "syn"],
                                                 ["train", "val"], [str(i) for i in range(10)], per=1),
                        ["DATASET.TARGET_DOMAINS", "['svhn']"]),
    "domainnet": (lambda r: [build_domainnet_domain(os.path.join(r, "domainnet"), d) for d in ("clipart", "real")],
                  ["DATASET.SOURCE_DOMAINS", "['clipart']", "DATASET.TARGET_DOMAINS", "['real']"]),
    "mini_domainnet": (lambda r: [build_domainnet_domain(os.path.join(r, "domainnet"), d, split_dir="splits_mini",
                                                         classes={"aircraft_carrier": 0, "zebra": 125})
                                  for d in ("clipart", "painting")],
                       ["DATASET.SOURCE_DOMAINS", "['clipart']", "DATASET.TARGET_DOMAINS", "['painting']"]),
    "image_folder": (lambda r: build_image_folder(r), ["DATASET.IMAGE_FOLDER", "toy", "DATASET.TARGET_DOMAINS", "['sketch']"]),
    "officehome": (_officehome, ["DATASET.TARGET_DOMAINS", "['Real_World']"]),
    "pacs": (build_pacs, ["DATASET.TARGET_DOMAINS", f"['{PACS_DOMAINS[-1]}']"]),
    "vlcs": (lambda r: build_split_folders(os.path.join(r, "VLCS"), ["CALTECH", "LABELME", "PASCAL", "SUN"],
                                      ["train", "crossval", "test"], ["bird", "car", "chair", "dog", "person"]),
             ["DATASET.TARGET_DOMAINS", "['sun']"]),
    "wilds_camelyon17": (build_camelyon17, []),  # the official split picks the domains
    "wilds_iwildcam": (build_iwildcam, []),
}


def test_every_registered_dataset_has_a_tiny_tree():
    ours = {n for n in DATASET_REGISTRY.names() if DATASET_REGISTRY.get(n).__module__.startswith("slim_dg.")}
    missing = sorted(ours - set(TINY_TREES))  # not the datasets other tests register
    assert not missing, f"add a tiny tree of {missing} to TINY_TREES: the contract below builds and trains on it"


@pytest.mark.slow  # a dozen trees written and trainers built: about a minute of CPU
@pytest.mark.parametrize("name", sorted(set(DATASET_REGISTRY.names()) & set(TINY_TREES)))
def test_every_registered_dataset_feeds_a_training_step(name, tmp_path):
    write_tree, domains = TINY_TREES[name]
    write_tree(str(tmp_path))
    cfg = get_cfg_defaults()
    merge_from_list(cfg, ["DATASET.NAME", name, "DATASET.ROOT", str(tmp_path), "DATASET.DOWNLOAD", "False", *domains,
                          "MODEL.BACKBONE.NAME", "test_resnet", "INPUT.SIZE", "(16, 16)", "USE_CUDA", "False",
                          "DATALOADER.TRAIN_X.BATCH_SIZE", "4", "DATALOADER.NUM_WORKERS", "0",
                          "DATALOADER.VERIFY_IMAGES", "False", "OUTPUT_DIR", str(tmp_path / "run")])
    validate_cfg(cfg)
    cfg.freeze()
    trainer = build_trainer(cfg)
    batch = next(iter(trainer.train_loader))
    assert batch["img"].shape == (4, 3, 16, 16) and int(batch["label"].max()) < trainer.dataset.num_classes
    trainer.run_step(batch)
    trainer.check_finite()
    assert trainer.test_loaders and all(len(loader.dataset) for loader in trainer.test_loaders.values())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in trainer.model.parameters())
