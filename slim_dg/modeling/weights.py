"""Which ImageNet weights a backbone name loads, in timm's ``name.tag`` form.

timm names every set of weights ``<architecture>.<tag>`` (``resnet18.tv_in1k``: torchvision's
original weights; ``resnet18.a1_in1k``: "ResNet strikes back"). A bare ``resnet18`` loads timm's
default tag, which is not the weights most DG papers used, so the shipped configs name the tag and
results record the resolved one. Resolution reads timm's pretrained-config registry only: nothing
is downloaded.
"""
from __future__ import annotations

import difflib

import timm
from timm.models import get_arch_pretrained_cfgs, get_pretrained_cfg, split_model_name_tag

from ..errors import UnknownNameError

RANDOM_INIT = "random init"


def available_weights(name: str) -> list[str]:
    """Every ``arch.tag`` timm has weights for, for the architecture of ``name`` (tag or not)."""
    arch, _ = split_model_name_tag(name)
    return list(get_arch_pretrained_cfgs(arch))


def resolve_weights_tag(name: str) -> str:
    """``name.tag`` of the weights ``timm.create_model(name, pretrained=True)`` loads: the tag given,
    or timm's default one. ``KeyError`` listing the valid tags when the tag is unknown."""
    arch, tag = split_model_name_tag(name)
    if not timm.is_model(arch):
        raise UnknownNameError(f"Unknown timm model '{arch}' (MODEL.BACKBONE.NAME {name})")
    valid = available_weights(arch)
    if tag and f"{arch}.{tag}" not in valid:
        close = difflib.get_close_matches(f"{arch}.{tag}", valid, n=1, cutoff=0.5)
        hint = f"; did you mean '{close[0]}'?" if close else "."
        raise UnknownNameError(f"Unknown weights tag '{tag}' for {arch} (MODEL.BACKBONE.NAME {name}){hint} "
                       f"Available: {', '.join(valid) or '(none: timm has no pretrained weights for it)'}")
    if tag:
        return f"{arch}.{tag}"
    default = get_pretrained_cfg(arch)  # timm's first-listed tag
    return f"{arch}.{default.tag}" if default is not None and default.tag else arch


def backbone_weights(cfg) -> str:
    """What the backbone of ``cfg`` starts from: the resolved ``name.tag``, that tag read from a local
    file (``MODEL.BACKBONE.WEIGHTS``), or ``"random init"``."""
    from .build import BACKBONE_REGISTRY

    name, weights_file = cfg.MODEL.BACKBONE.NAME, cfg.MODEL.BACKBONE.WEIGHTS
    if not (cfg.MODEL.BACKBONE.PRETRAINED or weights_file):
        return RANDOM_INIT
    # a registered builder chooses its own weights: its name is all that can be said
    tag = name if name in BACKBONE_REGISTRY else resolve_weights_tag(name)
    return f"{tag} (from file {weights_file})" if weights_file else tag
