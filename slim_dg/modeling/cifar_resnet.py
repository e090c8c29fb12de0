"""The two backbones of the adversarial-robustness literature on 32x32 images, with taps.

* ``cifar_resnet18``: ResNet-18 with the CIFAR stem (one 3x3 convolution, stride 1, no max-pool),
  as in Madry et al. (2018) / Rice et al. (2020); ``cifar_resnet18_w16`` is the same depth at a
  quarter of the width (16-32-64-128 channels), for CPU-sized runs and tests.
* ``wrn34_10``: the pre-activation WideResNet-34-10 of Zagoruyko & Komodakis (2016) that Madry et
  al., TRADES (Zhang et al., 2019) and MART (Wang et al., 2020) report on; ``wrn28_10`` too.

Both are timm-compatible for ``TimmBackbone``: ``feature_info`` (``num_chs``, ``reduction``,
``module``), ``num_features``, ``forward_features``, ``forward_head(x, pre_logits=True)`` and
``forward_intermediates(x, indices)``. Taps: the stem and each stage (``act1, layer1..layer4`` for
the ResNet, ``conv1, block1..block3`` for the WRN, whose last tap is taken after its final BN-ReLU,
so a feature-level adversary editing ``block3`` edits it before that BN-ReLU).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .backbone import TimmBackbone
from .build import BACKBONE_REGISTRY


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride, 1, bias=False)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1, self.bn1 = _conv3x3(cin, cout, stride), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = _conv3x3(cout, cout), nn.BatchNorm2d(cout)
        self.act = nn.ReLU(inplace=True)
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.act(self.bn1(self.conv1(x)))
        return self.act(self.bn2(self.conv2(out)) + self.shortcut(x))


class WideBlock(nn.Module):
    """Pre-activation block: BN-ReLU-conv twice; the shortcut convolves the activated input."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(cin), _conv3x3(cin, cout, stride)
        self.bn2, self.conv2 = nn.BatchNorm2d(cout), _conv3x3(cout, cout)
        self.act = nn.ReLU(inplace=False)
        self.shortcut = None if stride == 1 and cin == cout else nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x):
        o = self.act(self.bn1(x))
        y = self.conv2(self.act(self.bn2(self.conv1(o))))
        return y + (x if self.shortcut is None else self.shortcut(o))


class _TapNet(nn.Module):
    """Runs ``self.stages`` (names of submodules, one tap each) and pools; ``_finish`` maps the
    last stage's output to the final features (identity, or the WRN's closing BN-ReLU)."""

    stages: list[str]
    feature_info: list[dict]
    num_features: int

    def _finish(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def forward_intermediates(self, x: torch.Tensor, indices: Sequence[int] | None = None):
        wanted = set(range(len(self.stages)) if indices is None else indices)
        inter = []
        for i, name in enumerate(self.stages):
            x = self.get_submodule(name)(x)
            if i == len(self.stages) - 1:
                x = self._finish(x)
            if i in wanted:
                inter.append(x)
        return x, inter

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_intermediates(x, indices=[])[0]

    def forward_head(self, x: torch.Tensor, pre_logits: bool = True) -> torch.Tensor:
        return x.mean((2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


class CifarResNet(_TapNet):
    def __init__(self, layers=(2, 2, 2, 2), width: int = 64):
        super().__init__()
        chs = [width * 2 ** i for i in range(4)]
        self.conv1, self.bn1, self.act1 = _conv3x3(3, width), nn.BatchNorm2d(width), nn.ReLU(inplace=True)
        cin = width
        for i, (n, c) in enumerate(zip(layers, chs)):
            blocks = [BasicBlock(cin if j == 0 else c, c, (1 if i == 0 else 2) if j == 0 else 1) for j in range(n)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            cin = c
        self.stages = ["act1", "layer1", "layer2", "layer3", "layer4"]
        self.feature_info = [dict(num_chs=width, reduction=1, module="act1")] + [
            dict(num_chs=c, reduction=2 ** i, module=f"layer{i + 1}") for i, c in enumerate(chs)]
        self.num_features = chs[-1]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_intermediates(self, x, indices=None):
        wanted = set(range(len(self.stages)) if indices is None else indices)
        x = self.act1(self.bn1(self.conv1(x)))
        inter = [x] if 0 in wanted else []
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
            if i in wanted:
                inter.append(x)
        return x, inter


class WideResNet(_TapNet):
    def __init__(self, depth: int = 34, widen: int = 10):
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"WideResNet depth must be 6n + 4, got {depth}")
        n = (depth - 4) // 6
        chs = [16, 16 * widen, 32 * widen, 64 * widen]
        self.conv1 = _conv3x3(3, chs[0])
        cin = chs[0]
        for i, c in enumerate(chs[1:]):
            setattr(self, f"block{i + 1}", nn.Sequential(
                *[WideBlock(cin if j == 0 else c, c, (1 if i == 0 else 2) if j == 0 else 1) for j in range(n)]))
            cin = c
        self.bn, self.act = nn.BatchNorm2d(cin), nn.ReLU(inplace=False)
        self.stages = ["conv1", "block1", "block2", "block3"]
        self.feature_info = [dict(num_chs=chs[0], reduction=1, module="conv1")] + [
            dict(num_chs=c, reduction=2 ** i, module=f"block{i + 1}") for i, c in enumerate(chs[1:])]
        self.num_features = cin
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _finish(self, x):
        return self.act(self.bn(x))


@BACKBONE_REGISTRY.register(name="cifar_resnet18")
def cifar_resnet18(cfg=None) -> TimmBackbone:
    return TimmBackbone(CifarResNet((2, 2, 2, 2), 64))


@BACKBONE_REGISTRY.register(name="cifar_resnet18_w16")
def cifar_resnet18_w16(cfg=None) -> TimmBackbone:
    return TimmBackbone(CifarResNet((2, 2, 2, 2), 16))


@BACKBONE_REGISTRY.register(name="wrn34_10")
def wrn34_10(cfg=None) -> TimmBackbone:
    return TimmBackbone(WideResNet(34, 10))


@BACKBONE_REGISTRY.register(name="wrn28_10")
def wrn28_10(cfg=None) -> TimmBackbone:
    return TimmBackbone(WideResNet(28, 10))
