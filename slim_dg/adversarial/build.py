"""The adversary registry.

A registered adversary is an ``Adversary`` subclass built with ``cls.from_config(cfg, model)``.
"""
from ..registry import Registry

ADVERSARY_REGISTRY = Registry("Adversary", config_key="ADV.NAME")


def build_adversary(name: str, cfg, model):
    from .base import Adversary

    adversary = ADVERSARY_REGISTRY.get(name).from_config(cfg, model)
    if not isinstance(adversary, Adversary):
        raise TypeError(f"Adversary '{name}' built a {type(adversary).__name__}, not an Adversary")
    return adversary
