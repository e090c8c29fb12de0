from . import advstyle, feat_advstyle, pgd  # noqa: F401  (register the adversaries)
from .base import Adversary, ImageAdversary, adversarial_mode
from .build import ADVERSARY_REGISTRY, build_adversary
from .objectives import Objective, OutputLoss
from .slim import SLIM, intermediate_loss

__all__ = ["ADVERSARY_REGISTRY", "Adversary", "ImageAdversary", "Objective", "OutputLoss", "SLIM", "adversarial_mode",
           "build_adversary", "intermediate_loss"]
