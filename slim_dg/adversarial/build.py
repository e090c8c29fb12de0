"""The adversary registry.

A registered adversary is an ``Adversary`` subclass built with ``cls.from_config(cfg, model)``;
registering it adds its ``config_keys`` to the config defaults, and ``validate_cfg`` calls its
``check_config``. A new adversary is then one file (and a ``configs/trainers/<name>.yaml`` with its
settings): ``TRAINER.NAME Adversarial ADV.NAME <name>`` trains it, plain or with ``SLIM.ENABLED``.
"""
from ..config.defaults import add_config_keys
from ..registry import Registry

ADVERSARY_REGISTRY = Registry("Adversary", config_key="ADV.NAME",
                              on_register=lambda name, cls: add_config_keys(cls.config_keys, f"adversary '{name}'"))


def build_adversary(name: str, cfg, model):
    from .base import Adversary

    adversary = ADVERSARY_REGISTRY.get(name).from_config(cfg, model)
    if not isinstance(adversary, Adversary):
        raise TypeError(f"Adversary '{name}' built a {type(adversary).__name__}, not an Adversary")
    return adversary
