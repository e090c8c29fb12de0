"""Checks of a merged config against what exists, before any data is read or model built.

Also resolves leave-one-domain-out: an empty ``DATASET.SOURCE_DOMAINS`` becomes every domain of
the dataset that is not a target.
"""
from __future__ import annotations

import difflib

from yacs.config import CfgNode as CN

from .load import ConfigError

# key -> valid values, for string keys with a fixed vocabulary
CHOICES = {
    "OPTIM.NAME": ("sgd", "adam", "adamw"),
    "OPTIM.LR_SCHEDULER": ("cosine", "single_step", "multi_step", "constant"),
    "OPTIM.WARMUP_TYPE": ("linear", "constant"),
    "INPUT.INTERPOLATION": ("bilinear", "bicubic", "nearest"),
    "DATALOADER.TRAIN_X.SAMPLER": ("RandomSampler", "SequentialSampler", "RandomDomainSampler"),
    "ADV.TRAIN_ON": ("clean+adv", "adv"),
    "ADV.BN_MODE": ("train", "eval"),
    "SLIM.LOSS": ("cosine", "orthogonal", "reverse"),
    "SLIM.SAMPLE_PER": ("step", "batch"),
}


def _get(cfg: CN, key: str):
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node


def _choice_error(key: str, value: str, valid) -> ConfigError:
    close = difflib.get_close_matches(value, list(valid), n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else "."
    return ConfigError(f"Invalid value '{value}' for {key}{hint} Valid: {', '.join(valid)}")


def validate_cfg(cfg: CN) -> None:
    """Raise ``ConfigError``/``KeyError`` naming what is wrong; fill in LODO source domains."""
    from ..adversarial.build import ADVERSARY_REGISTRY
    from ..data.build import DATASET_REGISTRY
    from ..data.transforms import TRAIN_TRANSFORMS
    from ..engine.build import TRAINER_REGISTRY
    from ..modeling.build import check_backbone_name

    for key, valid in CHOICES.items():
        if _get(cfg, key) not in valid:
            raise _choice_error(key, _get(cfg, key), valid)
    for t in cfg.INPUT.TRANSFORMS:
        if t not in TRAIN_TRANSFORMS:
            raise _choice_error("INPUT.TRANSFORMS", t, TRAIN_TRANSFORMS)
    if cfg.SLIM.LAMBDA_MIN > cfg.SLIM.LAMBDA_MAX:
        raise ConfigError(f"SLIM.LAMBDA_MIN ({cfg.SLIM.LAMBDA_MIN}) must not exceed SLIM.LAMBDA_MAX "
                          f"({cfg.SLIM.LAMBDA_MAX})")
    if cfg.OPTIM.MAX_EPOCH < 1:
        raise ConfigError(f"OPTIM.MAX_EPOCH must be >= 1, got {cfg.OPTIM.MAX_EPOCH}")
    if cfg.ADV.STEPS < 0:
        raise ConfigError(f"ADV.STEPS must be >= 0, got {cfg.ADV.STEPS}")
    trainer_cls = TRAINER_REGISTRY.get(cfg.TRAINER.NAME)  # KeyError listing the trainers
    if cfg.ADV.NAME:
        ADVERSARY_REGISTRY.get(cfg.ADV.NAME)
    elif getattr(trainer_cls, "adversary_name", None) == "":
        raise ConfigError(f"TRAINER.NAME {cfg.TRAINER.NAME} needs ADV.NAME. Available: "
                          f"{', '.join(ADVERSARY_REGISTRY.names())}")
    check_backbone_name(cfg.MODEL.BACKBONE.NAME)
    dataset_cls = DATASET_REGISTRY.get(cfg.DATASET.NAME)
    _check_domains(cfg, dataset_cls.domains)


def _check_domains(cfg: CN, domains: tuple[str, ...]) -> None:
    src, tgt = list(cfg.DATASET.SOURCE_DOMAINS), list(cfg.DATASET.TARGET_DOMAINS)
    listing = f"Domains of {cfg.DATASET.NAME}: {', '.join(domains)}"
    if not domains:  # datasets that discover their domains on disk are checked when built
        return
    for key, names in (("DATASET.SOURCE_DOMAINS", src), ("DATASET.TARGET_DOMAINS", tgt)):
        for n in names:
            if n not in domains:
                close = difflib.get_close_matches(n, domains, n=1, cutoff=0.5)
                hint = f"; did you mean '{close[0]}'?" if close else "."
                raise ConfigError(f"Unknown domain '{n}' in {key}{hint} {listing}")
    if not tgt:
        raise ConfigError(f"No target domain: set DATASET.TARGET_DOMAINS or pass --target-domains. {listing}")
    both = sorted(set(src) & set(tgt))
    if both:
        raise ConfigError(f"Domain(s) {both} are both source and target; a DG run never trains on its target.")
    if not src:
        src = [d for d in domains if d not in tgt]
        if not src:
            raise ConfigError(f"Every domain is a target, none is left to train on. {listing}")
        cfg.DATASET.SOURCE_DOMAINS = src
