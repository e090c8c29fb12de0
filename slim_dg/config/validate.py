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
    "DATALOADER.ON_BAD_IMAGE": ("fail", "skip"),
    "DATASET.TARGET_SPLIT": ("test", "all"),
    "ADV.BN_MODE": ("train", "eval"),
    "SLIM.LOSS": ("cosine", "orthogonal", "reverse"),
    "SLIM.SAMPLE_PER": ("step", "batch"),
    "SLIM.BALANCE": ("none", "grad_norm"),
    "TRAIN.AMP_DTYPE": ("bfloat16", "float16"),
    "TRAINER.MART.INNER_LOSS": ("ce", "bce"),
}


# key, test, what the test means
RANGES = [
    ("OPTIM.LR", lambda v: v > 0, "> 0"),
    ("OPTIM.WEIGHT_DECAY", lambda v: v >= 0, ">= 0"),
    ("OPTIM.MAX_EPOCH", lambda v: v >= 1, ">= 1"),
    ("OPTIM.WARMUP_EPOCH", lambda v: v >= 0, ">= 0"),
    ("DATALOADER.TRAIN_X.BATCH_SIZE", lambda v: v >= 1, ">= 1"),
    ("DATALOADER.TEST.BATCH_SIZE", lambda v: v >= 1, ">= 1"),
    ("DATALOADER.NUM_WORKERS", lambda v: v >= -1, ">= 0, or -1 (auto)"),
    ("DATALOADER.PREFETCH_FACTOR", lambda v: v >= 1, ">= 1"),
    ("DATASET.VAL_RATIO", lambda v: 0 <= v < 1, "in [0, 1)"),
    ("TRAIN.CHECKPOINT_FREQ", lambda v: v >= 0, ">= 0"),
    ("TRAIN.CHECKPOINT_KEEP", lambda v: v >= 0, ">= 0"),
    ("TRAIN.MAX_ITERS_PER_EPOCH", lambda v: v >= 0, ">= 0"),
    ("ADV.STEPS", lambda v: v >= 0, ">= 0"),
    ("ADV.RANDOM_START", lambda v: v >= 0, ">= 0"),
    ("TRAINER.TRADES.BETA", lambda v: v >= 0, ">= 0"),
    ("TRAINER.MART.BETA", lambda v: v >= 0, ">= 0"),
    ("TEST.ROBUST_VAL_STEPS", lambda v: v >= 0, ">= 0"),
]


def _get(cfg: CN, key: str):
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node


def check_ranges(cfg: CN, ranges) -> None:
    """``ranges``: (key, test, what the test means), as ``RANGES``; the first key that fails is refused."""
    for key, ok, rule in ranges:
        if not ok(_get(cfg, key)):
            raise ConfigError(f"{key} must be {rule}, got {_get(cfg, key)!r}")


def _choice_error(key: str, value: str, valid) -> ConfigError:
    close = difflib.get_close_matches(value, list(valid), n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else "."
    return ConfigError(f"Invalid value '{value}' for {key}{hint} Valid: {', '.join(valid)}")


def validate_cfg(cfg: CN) -> None:
    """Raise ``ConfigError``/``KeyError`` naming what is wrong; fill in LODO source domains."""
    from ..adversarial.build import ADVERSARY_REGISTRY
    from ..adversarial.slim import check_loss_and_range
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
    try:
        check_loss_and_range(cfg.SLIM.LOSS, cfg.SLIM.LAMBDA_MIN, cfg.SLIM.LAMBDA_MAX)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    check_ranges(cfg, RANGES)
    trainer_cls = TRAINER_REGISTRY.get(cfg.TRAINER.NAME)  # KeyError listing the trainers
    if cfg.ADV.NAME:
        ADVERSARY_REGISTRY.get(cfg.ADV.NAME)
    elif getattr(trainer_cls, "adversary_name", None) == "":
        raise ConfigError(f"TRAINER.NAME {cfg.TRAINER.NAME} needs ADV.NAME. Available: "
                          f"{', '.join(ADVERSARY_REGISTRY.names())}")
    adversary = getattr(trainer_cls, "adversary_name", "") or cfg.ADV.NAME
    if adversary:  # the adversary's own checks (Adversary.check_config), then the trainer's
        ADVERSARY_REGISTRY.get(adversary).check_config(cfg)
    check_trainer = getattr(trainer_cls, "check_config", None)
    if check_trainer is not None:
        check_trainer(cfg)
    check_backbone_name(cfg.MODEL.BACKBONE.NAME)
    dataset_cls = DATASET_REGISTRY.get(cfg.DATASET.NAME)
    # a dataset with fixed roles (WILDS' official split) fills in empty source/target lists itself
    defaults = getattr(dataset_cls, "default_domains", None)
    if defaults is not None:
        src, tgt = defaults(cfg)
        cfg.DATASET.SOURCE_DOMAINS = list(cfg.DATASET.SOURCE_DOMAINS) or src
        cfg.DATASET.TARGET_DOMAINS = list(cfg.DATASET.TARGET_DOMAINS) or tgt
    # a dataset whose domains depend on the config (image_folder reads them from disk) says so
    discover = getattr(dataset_cls, "domains_from_config", None)
    _check_domains(cfg, tuple(discover(cfg)) if discover else dataset_cls.domains)


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
