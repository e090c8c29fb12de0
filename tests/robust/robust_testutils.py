"""Shared builders of the robustness tests: a tiny 32x32 classifier, valid-pixel batches, a config
and the robust trainers without data (``trainer_testutils.without_data``: a seeded model, a plain SGD)."""
from __future__ import annotations

import copy
import functools

import torch

from slim_dg.config.defaults import get_cfg_defaults
from slim_dg.engine import robust
from slim_dg.modeling.backbone import create_timm_backbone
from slim_dg.modeling.classifier import Classifier

from trainer_testutils import without_data

MEAN = (0.4914, 0.4822, 0.4465)  # CIFAR's, deliberately not 0.5: PGD must convert with the real std
STD = (0.2471, 0.2435, 0.2616)
NUM_CLASSES = 10
METHODS = {"pgdat": ("PGDAT", "PGDATSLIM"), "trades": ("TRADES", "TRADESSLIM"), "mart": ("MART", "MARTSLIM")}


@functools.lru_cache(maxsize=None)
def _base_model(seed: int) -> Classifier:
    torch.manual_seed(seed)
    return Classifier(create_timm_backbone("test_resnet", img_size=(32, 32)), NUM_CLASSES)


def make_model(seed: int = 0) -> Classifier:
    return copy.deepcopy(_base_model(seed)).train()


def make_batch(seed: int = 1, b: int = 8):
    """Normalised images whose pixels lie in [0, 1], some exactly 0 or 1 (the box must bind)."""
    g = torch.Generator().manual_seed(seed)
    pix = torch.rand(b, 3, 32, 32, generator=g)
    pix[:, :, :4], pix[:, :, -4:] = 0.0, 1.0
    x = (pix - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    return x, torch.randint(0, NUM_CLASSES, (b,), generator=g)


def to_pixels(x: torch.Tensor) -> torch.Tensor:
    return x * torch.tensor(STD).view(1, 3, 1, 1) + torch.tensor(MEAN).view(1, 3, 1, 1)


def make_cfg(method: str, *, lam=(0.0, 0.0), steps: int = 3, random_start: float = 1.0, bn_mode: str = "train",
             mart_inner: str = "ce", balance: str = "none"):
    cfg = get_cfg_defaults()
    cfg.INPUT.PIXEL_MEAN, cfg.INPUT.PIXEL_STD = list(MEAN), list(STD)
    cfg.ADV.STEPS, cfg.ADV.RANDOM_START, cfg.ADV.BN_MODE = steps, random_start, bn_mode
    cfg.SLIM.LAMBDA_MIN, cfg.SLIM.LAMBDA_MAX = lam
    cfg.SLIM.BALANCE = balance
    cfg.TRAINER.MART.INNER_LOSS = mart_inner
    cfg.SEED = 3
    cfg.USE_CUDA = False
    cfg.freeze()
    return cfg


def build_trainer(method: str, slim: bool, **kw):
    return without_data(getattr(robust, METHODS[method][int(slim)]), make_model)(make_cfg(method, **kw))
