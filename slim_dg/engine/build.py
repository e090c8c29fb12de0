"""The trainer registry.

A registered trainer is a ``DGTrainer`` subclass built as ``cls(cfg)``; it implements
``compute_losses(batch) -> {name: loss tensor}`` and nothing else is required (the base builds
data, model and optimizer, and the hooks schedule, evaluate, checkpoint and log).
"""
from ..registry import Registry

TRAINER_REGISTRY = Registry("Trainer", config_key="TRAINER.NAME")


def build_trainer(cfg):
    from .trainer import DGTrainer

    trainer = TRAINER_REGISTRY.get(cfg.TRAINER.NAME)(cfg)
    if not isinstance(trainer, DGTrainer):
        raise TypeError(f"Trainer '{cfg.TRAINER.NAME}' built a {type(trainer).__name__}, not a DGTrainer")
    return trainer
