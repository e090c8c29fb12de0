"""SLIM-DG: domain generalization with adversarial augmentation and SLIM."""
__version__ = "0.1.0"

# Importing the subpackages fills the registries (datasets, backbones, adversaries, trainers).
from . import adversarial, data, engine, modeling  # noqa: E402,F401
