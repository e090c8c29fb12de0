"""A timm model as a backbone with named intermediate taps.

Taps are the stages timm lists in ``feature_info`` (for a ResNet: ``act1, layer1 .. layer4``;
for a ViT: ``blocks.0 ..``) and are read with timm's ``forward_intermediates``, so any timm family
that implements it works without per-architecture hooks. Taps are addressed by index or by the
module name timm gives them.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator, Sequence

import timm
import torch
from torch import nn

from ..errors import InputError, UnknownNameError
from .hub import hub_endpoint, hub_offline, hub_reachable, offline_hub

TapSpec = Sequence["int | str"]


class TimmBackbone(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        if not hasattr(model, "forward_intermediates"):
            raise ValueError(f"timm model {type(model).__name__} has no forward_intermediates(); "
                             "pick a model family that supports feature taps")
        self.model = model
        self.feature_info: list[dict] = [dict(f) for f in model.feature_info]
        self.tap_names: list[str] = [f["module"] for f in self.feature_info]
        self.out_features: int = model.num_features
        self.input_memory_format: torch.memory_format | None = None  # see cpu_layout: None leaves inputs as they come

    @property
    def num_taps(self) -> int:
        return len(self.tap_names)

    def tap_index(self, tap: int | str) -> int:
        """Index of a tap given as an index (negative allowed) or a timm module name."""
        if isinstance(tap, str) and tap.lstrip("-").isdigit():
            tap = int(tap)
        if isinstance(tap, int):
            if not -self.num_taps <= tap < self.num_taps:
                raise IndexError(f"Tap index {tap} out of range; this backbone has {self.num_taps} taps "
                                 f"(0..{self.num_taps - 1}): {', '.join(self.tap_names)}")
            return tap % self.num_taps
        if tap not in self.tap_names:
            raise UnknownNameError(f"Unknown tap '{tap}'. Available: {', '.join(self.tap_names)}")
        return self.tap_names.index(tap)

    def forward(self, x: torch.Tensor, taps: Sequence[int] | None = None):
        """Pooled features, and with ``taps`` (sorted tap indices) also ``{index: tensor}``."""
        if self.input_memory_format is not None:
            x = x.contiguous(memory_format=self.input_memory_format)
        if taps is None:
            return self.model.forward_head(self.model.forward_features(x), pre_logits=True)
        # timm's final features here equal forward_features' (tests/modeling check it per family)
        final, inter = self.model.forward_intermediates(x, indices=list(taps))
        return self.model.forward_head(final, pre_logits=True), dict(zip(taps, inter))

    def stage_module(self, index: int) -> nn.Module:
        return self.model.get_submodule(self.tap_names[index])

    @contextlib.contextmanager
    def edit_stage_output(self, index: int, fn: Callable[[torch.Tensor], torch.Tensor]) -> Iterator[None]:
        """Within the block, the output of tap ``index`` is replaced by ``fn(output)`` in every
        forward (used by feature-level adversaries). The edited value is also what the tap returns."""
        handle = self.stage_module(index).register_forward_hook(lambda _m, _i, out: fn(out))
        try:
            yield
        finally:
            handle.remove()


def create_timm_backbone(name: str, pretrained: bool = False, weights: str = "",
                         img_size: tuple[int, int] | None = None, **kwargs) -> TimmBackbone:
    """A timm model without its classifier; ``weights`` is a local file used instead of a download.

    Models with a fixed input size (ViTs' patch embedding) are rebuilt for ``img_size``; timm
    resamples their position embeddings when pretrained weights are loaded.
    """
    backbone = _create(name, pretrained, weights, **kwargs)
    fixed = getattr(getattr(backbone.model, "patch_embed", None), "img_size", None)
    if img_size is not None and fixed is not None and tuple(fixed) != tuple(img_size):
        backbone = _create(name, pretrained, weights, img_size=tuple(img_size), **kwargs)
    return backbone


class WeightsUnavailableError(InputError, RuntimeError):
    """Pretrained weights could not be had (hub unreachable, file unreadable); the one-line message says
    how to go on."""


def _create(name: str, pretrained: bool, weights: str, **kwargs) -> TimmBackbone:
    if weights:
        kwargs["pretrained_cfg_overlay"] = dict(file=weights)
        pretrained = True
    # from the hub: a quick probe first, and only the local cache when the hub cannot be reached
    unreachable = pretrained and not weights and not hub_offline() and not hub_reachable()
    try:
        with offline_hub() if unreachable else contextlib.nullcontext():
            model = timm.create_model(name, pretrained=pretrained, num_classes=0, **kwargs)
    except Exception as e:  # timm raises many kinds (HTTP, hub, file) when weights cannot be had
        if not pretrained:
            raise
        source = (f"the local file {weights}" if weights else
                  f"the model hub ({hub_endpoint()} cannot be reached) or its local cache" if unreachable else
                  "the model hub")
        why = (str(e).strip().splitlines() or [""])[0]
        raise WeightsUnavailableError(
            f"Could not load pretrained weights for '{name}' from {source}: {type(e).__name__}: {why}. "
            "Either train from scratch with `MODEL.BACKBONE.PRETRAINED False`, or download the weights "
            "elsewhere and pass them with `MODEL.BACKBONE.WEIGHTS FILE` (a .pth or .safetensors file)."
        ) from e
    return TimmBackbone(model)
