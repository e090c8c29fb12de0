"""SLIM-DG's keys in a Dassl config (``extend_cfg``) and the checks of a Dassl config before any work
(``check_dassl_cfg``, ``check_slim_dg_cfg``); ``adversary_cfg``: the keys our adversaries read, as
Dassl's input pipeline means them."""
from __future__ import annotations

import numpy as np
import torch
from yacs.config import CfgNode as CN

from ...config.defaults import get_cfg_defaults
from ...config.validate import CHOICES
from .backbones import timm_model_name

__all__ = ["NUMPY_BROKEN_TRANSFORMS", "adversary_cfg", "check_dassl_cfg", "check_slim_dg_cfg", "extend_cfg"]


def extend_cfg(cfg: CN) -> CN:
    """Add SLIM-DG's ``ADV.*`` and ``SLIM.*`` keys (and ``MODEL.BACKBONE.WEIGHTS``, a local weights
    file for ``timm_*`` backbones) with our defaults to a (not frozen) Dassl config; keys already
    there are kept. Call it before merging config files, as Dassl's ``extend_cfg`` hook does."""
    ours = get_cfg_defaults()
    for key in ("ADV", "SLIM"):
        if key not in cfg:
            setattr(cfg, key, ours[key].clone())
    if "WEIGHTS" not in cfg.MODEL.BACKBONE:
        cfg.MODEL.BACKBONE.WEIGHTS = ours.MODEL.BACKBONE.WEIGHTS
    return cfg


# Dassl transforms that use np.int (removed in numpy 1.24): at build time, or when RandAugment draws SolarizeAdd
NUMPY_BROKEN_TRANSFORMS = ("imagenet_policy", "cifar10_policy", "svhn_policy", "randaugment")


def check_dassl_cfg(cfg: CN) -> None:
    """Refuse, before any work, what is known to crash in this Dassl version on current numpy (fix 4 of
    ``fixes``: the ``NUMPY_BROKEN_TRANSFORMS`` cannot be fixed from outside)."""
    bad = [t for t in cfg.INPUT.TRANSFORMS if t in NUMPY_BROKEN_TRANSFORMS]
    if bad and not hasattr(np, "int"):
        raise ValueError(f"INPUT.TRANSFORMS {bad}: Dassl's implementation uses np.int, which numpy "
                         f"{np.__version__} no longer has (removed in 1.24), so it would crash. Pick other "
                         "transforms (e.g. random_flip, random_translation, colorjitter, randaugment2).")


def check_slim_dg_cfg(cfg: CN) -> None:
    """What our trainers need of a Dassl config."""
    if "ADV" not in cfg or "SLIM" not in cfg:
        raise KeyError("The config has no ADV/SLIM keys: call slim_dg.integrations.dassl.extend_cfg(cfg) on the "
                       "Dassl config before merging files (tools/train_dassl.py does).")
    for key, valid in CHOICES.items():
        if key.startswith(("ADV.", "SLIM.")):
            node = cfg
            for part in key.split("."):
                node = node[part]
            if node not in valid:
                raise ValueError(f"Invalid value '{node}' for {key}. Valid: {', '.join(valid)}")
    if cfg.MODEL.HEAD.NAME and cfg.MODEL.HEAD.HIDDEN_LAYERS:
        raise ValueError(f"MODEL.HEAD ({cfg.MODEL.HEAD.NAME}) is not supported by SLIM-DG's trainers: their model is "
                         "a timm backbone with feature taps and a linear classifier. Unset MODEL.HEAD.NAME.")
    timm_model_name(cfg.MODEL.BACKBONE.NAME)
    check_dassl_cfg(cfg)


def adversary_cfg(cfg: CN) -> CN:
    """The keys our adversaries' and SLIM's ``from_config`` read, as Dassl's pipeline means them: pixel
    statistics only when ``normalize`` is among the transforms (else the images are in [0, 1]), and a
    SLIM seed also when ``SEED`` < 0 (Dassl's "random": then the process's random torch seed)."""
    normalized = "normalize" in cfg.INPUT.TRANSFORMS
    channels = len(cfg.INPUT.PIXEL_MEAN)
    view = CN()
    view.ADV, view.SLIM = cfg.ADV.clone(), cfg.SLIM.clone()
    view.INPUT = CN()
    view.INPUT.PIXEL_MEAN = list(cfg.INPUT.PIXEL_MEAN) if normalized else [0.0] * channels
    view.INPUT.PIXEL_STD = list(cfg.INPUT.PIXEL_STD) if normalized else [1.0] * channels
    view.SEED = cfg.SEED if cfg.SEED >= 0 else torch.initial_seed()
    return view
