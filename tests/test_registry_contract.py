"""The registries' contract: every registered trainer and every registered adversary (plain and with
SLIM, through ``TRAINER.NAME Adversarial``) builds from a config and takes one training step on the
embedded digits_dg at a tiny size. The lists come from the registries, so whatever is registered
next is held to the same contract without an edit here."""
from __future__ import annotations

import os

import pytest
import torch

from slim_dg.adversarial import ADVERSARY_REGISTRY
from slim_dg.config import get_cfg_defaults, merge_from_file, merge_from_list, validate_cfg
from slim_dg.engine import TRAINER_REGISTRY, build_trainer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["MODEL.BACKBONE.NAME", "test_resnet", "INPUT.SIZE", "(16, 16)", "DATALOADER.TRAIN_X.BATCH_SIZE", "4",
        "DATALOADER.CACHE", "False", "DATALOADER.VERIFY_IMAGES", "False", "DATALOADER.NUM_WORKERS", "0",
        "DATASET.TARGET_DOMAINS", "['texture']", "USE_CUDA", "False"]


def tiny_cfg(root: str, out: str, opts: list[str]):
    cfg = get_cfg_defaults()
    merge_from_file(cfg, os.path.join(REPO, "configs", "datasets", "digits_dg.yaml"))
    merge_from_list(cfg, [*TINY, "DATASET.ROOT", root, "OUTPUT_DIR", out, *opts])
    validate_cfg(cfg)
    cfg.freeze()
    return cfg


def one_step(cfg) -> None:
    """Build the trainer, take one step; the loss is finite and the weights moved."""
    torch.manual_seed(0)
    trainer = build_trainer(cfg)
    before = [p.detach().clone() for p in trainer.model.parameters()]
    losses = trainer.run_step(next(iter(trainer.train_loader)))
    trainer.check_finite()  # raises on a non-finite loss
    assert losses and all(torch.isfinite(torch.as_tensor(v)).all() for v in losses.values())
    assert any(not torch.equal(a, p) for a, p in zip(before, trainer.model.parameters())), "no weight moved"


def _trainer_opts(name: str) -> list[str]:
    needs_adversary = getattr(TRAINER_REGISTRY.get(name), "adversary_name", None) == ""
    return ["TRAINER.NAME", name, *(["ADV.NAME", ADVERSARY_REGISTRY.names()[0]] if needs_adversary else [])]


@pytest.mark.parametrize("name", TRAINER_REGISTRY.names())
def test_every_registered_trainer_takes_a_step(name, digits_root, tmp_path):
    one_step(tiny_cfg(digits_root, str(tmp_path), _trainer_opts(name)))


@pytest.mark.parametrize("slim", [False, True], ids=["plain", "SLIM"])
@pytest.mark.parametrize("adversary", ADVERSARY_REGISTRY.names())
def test_every_registered_adversary_trains_through_the_generic_trainer(adversary, slim, digits_root, tmp_path):
    one_step(tiny_cfg(digits_root, str(tmp_path),
                      ["TRAINER.NAME", "Adversarial", "ADV.NAME", adversary, "SLIM.ENABLED", str(slim)]))
