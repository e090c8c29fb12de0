from . import adversarial, erm, robust  # noqa: F401  (register the trainers)
from .build import TRAINER_REGISTRY, build_trainer
from .train_loop import HookBase, TrainerBase
from .trainer import DGTrainer

__all__ = ["DGTrainer", "HookBase", "TRAINER_REGISTRY", "TrainerBase", "build_trainer"]
