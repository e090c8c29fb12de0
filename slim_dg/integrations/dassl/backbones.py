"""timm backbones with feature taps in Dassl's ``BACKBONE_REGISTRY``, as ``timm_<timm name>``
(``timm_resnet18/34/50/101`` on import; any other timm name, or ``name.tag`` such as
``timm_resnet18.tv_in1k`` for torchvision's weights, through ``register_timm_backbone``), usable
by Dassl's ``SimpleNet`` and trainers; ``timm_model_name``: the timm model behind a
``MODEL.BACKBONE.NAME``."""
from __future__ import annotations

import difflib

import timm
from dassl.modeling import BACKBONE_REGISTRY, Backbone

from ...modeling.backbone import TimmBackbone, create_timm_backbone
from ...modeling.weights import resolve_weights_tag
from .registry import _register

__all__ = ["TIMM_PREFIX", "TimmDasslBackbone", "register_timm_backbone", "timm_model_name"]

TIMM_PREFIX = "timm_"


def timm_model_name(name: str) -> str:
    """The timm model behind ``MODEL.BACKBONE.NAME``: ``timm_<name>`` or a plain timm name."""
    if name in BACKBONE_REGISTRY.registered_names() and hasattr(BACKBONE_REGISTRY.get(name), "timm_name"):
        return BACKBONE_REGISTRY.get(name).timm_name
    stripped = name[len(TIMM_PREFIX):] if name.startswith(TIMM_PREFIX) else name
    if stripped and timm.is_model(stripped):
        resolve_weights_tag(stripped)  # `timm_<name>.<tag>`: the tag must name weights timm has
        return stripped
    close = difflib.get_close_matches(stripped, timm.list_models(), n=3, cutoff=0.6)
    hint = f" Did you mean: {', '.join(TIMM_PREFIX + c for c in close)}?" if close else ""
    raise KeyError(f"MODEL.BACKBONE.NAME '{name}' is not a timm model.{hint} SLIM-DG's trainers need a timm backbone "
                   f"with feature taps: '{TIMM_PREFIX}<name>' for any name of timm.list_models() (e.g. timm_resnet18).")


class TimmDasslBackbone(TimmBackbone, Backbone):
    """A timm model as a Dassl ``Backbone`` (``forward(x)``: pooled features; ``out_features``) that is
    also our ``TimmBackbone`` (taps, ``tap_index``, ``edit_stage_output``)."""

    # our TimmBackbone assigns out_features; Dassl's Backbone declares it a read-only property
    out_features = property(lambda self: self._out_features, lambda self, value: setattr(self, "_out_features", value))

    @classmethod
    def create(cls, timm_name: str, pretrained: bool = False, weights: str = "", **kwargs) -> "TimmDasslBackbone":
        return cls(create_timm_backbone(timm_name, pretrained, weights, **kwargs).model)


def register_timm_backbone(timm_name: str) -> str:
    """Register ``timm_<timm_name>`` in Dassl's backbone registry (once); returns that name. Dassl's
    ``build_backbone`` calls it as ``builder(pretrained=..., **kwargs)``."""
    if timm.is_model(timm_name):
        resolve_weights_tag(timm_name)  # raises, listing the valid tags
    else:
        timm_model_name(timm_name)  # raises, with suggestions
    name = TIMM_PREFIX + timm_name
    if name in BACKBONE_REGISTRY.registered_names() and getattr(BACKBONE_REGISTRY.get(name), "timm_name", None):
        return name

    def builder(pretrained: bool = True, weights: str = "", **kwargs):
        return TimmDasslBackbone.create(timm_name, pretrained, weights, **kwargs)

    builder.__name__ = builder.__qualname__ = name
    builder.timm_name = timm_name
    _register(BACKBONE_REGISTRY, builder)
    return name


for _name in ("resnet18", "resnet34", "resnet50", "resnet101"):
    register_timm_backbone(_name)
