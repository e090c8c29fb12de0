"""The backbone registry and ``build_model``.

A registered backbone builder is called as ``builder(cfg)`` and returns a ``TimmBackbone``
(wrap any timm-compatible model in it). Names not in the registry are looked up in timm, so
every ``timm.list_models()`` name works as ``MODEL.BACKBONE.NAME``, with or without a weights tag
(``resnet18.tv_in1k``, see ``weights.py``).
"""
from __future__ import annotations

import difflib
import logging

import timm
import torch

from ..errors import UnknownNameError
from ..registry import Registry
from .backbone import TimmBackbone, create_timm_backbone
from .classifier import Classifier
from .weights import backbone_weights, resolve_weights_tag

BACKBONE_REGISTRY = Registry("Backbone", config_key="MODEL.BACKBONE.NAME")
logger = logging.getLogger(__name__)


def check_backbone_name(name: str) -> None:
    if name in BACKBONE_REGISTRY:
        return
    if timm.is_model(name):
        resolve_weights_tag(name)  # a `name.tag` must name weights timm has (timm would only warn)
        return
    candidates = BACKBONE_REGISTRY.names() + timm.list_models()
    close = difflib.get_close_matches(name, candidates, n=5, cutoff=0.6)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise UnknownNameError(
        f"Unknown backbone '{name}' (MODEL.BACKBONE.NAME).{hint} Available: any of the "
        f"{len(timm.list_models())} names of timm.list_models(), or registered: "
        f"{', '.join(BACKBONE_REGISTRY.names()) or '(none)'}"
    )


def build_backbone(cfg) -> TimmBackbone:
    name = cfg.MODEL.BACKBONE.NAME
    check_backbone_name(name)
    if name in BACKBONE_REGISTRY:
        backbone = BACKBONE_REGISTRY.get(name)(cfg)
    else:
        backbone = create_timm_backbone(name, cfg.MODEL.BACKBONE.PRETRAINED, cfg.MODEL.BACKBONE.WEIGHTS,
                                        img_size=tuple(cfg.INPUT.SIZE))
    if not isinstance(backbone, TimmBackbone):
        raise TypeError(f"Backbone builder '{name}' returned {type(backbone).__name__}, expected TimmBackbone")
    logger.info("Backbone %s: %s", name, backbone_weights(cfg))
    return backbone


def build_model(cfg, num_classes: int) -> Classifier:
    model = Classifier(build_backbone(cfg), num_classes)
    if cfg.MODEL.INIT_WEIGHTS:
        state = torch.load(cfg.MODEL.INIT_WEIGHTS, map_location="cpu", weights_only=True)
        model.load_state_dict(state.get("model", state))
        logger.info("Initialised the whole model from %s", cfg.MODEL.INIT_WEIGHTS)
    return model
