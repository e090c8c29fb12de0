from . import cifar_resnet  # noqa: F401  (registers cifar_resnet18, wrn34_10, ...)
from .backbone import TimmBackbone, create_timm_backbone
from .build import BACKBONE_REGISTRY, build_backbone, build_model
from .classifier import Classifier

__all__ = ["BACKBONE_REGISTRY", "Classifier", "TimmBackbone", "build_backbone", "build_model", "create_timm_backbone"]
