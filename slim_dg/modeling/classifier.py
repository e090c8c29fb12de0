"""Backbone + linear head: the model every trainer trains."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .backbone import TimmBackbone


class Classifier(nn.Module):
    def __init__(self, backbone: TimmBackbone, num_classes: int):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(backbone.out_features, num_classes)

    def forward(self, x: torch.Tensor, taps: Sequence[int] | None = None):
        """Logits; with ``taps`` (tap indices) also ``{index: features}`` of those stages."""
        if taps is None:
            return self.head(self.backbone(x))
        taps = sorted(set(taps))
        feats, tapped = self.backbone(x, taps)
        return self.head(feats), tapped
