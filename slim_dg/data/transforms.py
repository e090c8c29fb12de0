"""torchvision transforms v2 pipelines built from ``INPUT.*``.

Images stay uint8 tensors through the geometric and colour ops (cheaper than float) and become
normalised float32 only at the end. The data loaders build the per-image part with
``normalize=False`` and normalise whole batches (``BatchNormalize`` in their collate function):
one vectorised op per batch instead of two transforms per image, with identical values (the same
element-wise ops), and a quarter of the bytes between worker processes.
"""
from __future__ import annotations

import torch
from torchvision.transforms import InterpolationMode, v2
from torchvision.transforms.v2 import functional as F

TRAIN_TRANSFORMS = ("random_resized_crop", "random_translation", "random_crop", "random_flip", "color_jitter")
_INTERPOLATION = {"bilinear": InterpolationMode.BILINEAR, "bicubic": InterpolationMode.BICUBIC,
                  "nearest": InterpolationMode.NEAREST}


def build_transform(cfg, is_train: bool, normalize: bool = True) -> v2.Compose:
    """The per-image pipeline of ``INPUT.*``; ``normalize=False`` stops at uint8 (see ``BatchNormalize``)."""
    inp = cfg.INPUT
    size = list(inp.SIZE)
    interp = _INTERPOLATION[inp.INTERPOLATION]
    names = list(inp.TRANSFORMS) if is_train else []
    unknown = [n for n in names if n not in TRAIN_TRANSFORMS]
    if unknown:
        raise ValueError(f"Unknown INPUT.TRANSFORMS {unknown}. Available: {', '.join(TRAIN_TRANSFORMS)}")
    ops: list = []
    if "random_resized_crop" in names:
        ops.append(v2.RandomResizedCrop(size, scale=tuple(inp.RRCROP_SCALE), interpolation=interp, antialias=True))
    else:
        ops.append(v2.Resize(size, interpolation=interp, antialias=True))
    if "random_translation" in names:
        # Dassl's Random2DTranslation: with p=0.5, enlarge by 1/8 and crop back to size at random
        big = [round(s * 1.125) for s in size]
        ops.append(v2.RandomApply([v2.Resize(big, interpolation=interp, antialias=True), v2.RandomCrop(size)], p=0.5))
    if "random_crop" in names:
        ops.append(v2.RandomCrop(size, padding=inp.CROP_PADDING))
    if "random_flip" in names:
        ops.append(v2.RandomHorizontalFlip())
    if "color_jitter" in names:
        ops.append(v2.ColorJitter(inp.COLORJITTER_B, inp.COLORJITTER_C, inp.COLORJITTER_S, inp.COLORJITTER_H))
    if normalize:
        ops += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(inp.PIXEL_MEAN), list(inp.PIXEL_STD))]
    return v2.Compose(ops)


def split_resize(pipeline: v2.Compose) -> tuple[v2.Resize | None, v2.Compose]:
    """``(the leading Resize, the rest)`` of a ``build_transform`` pipeline, or ``(None, pipeline)``
    when it starts with a random op (``random_resized_crop``). A Resize draws no random numbers, so
    its output can be computed once and kept (``DATALOADER.CACHE``) with identical results."""
    ops = list(pipeline.transforms)
    if ops and type(ops[0]) is v2.Resize:
        return ops[0], v2.Compose(ops[1:]) if len(ops) > 1 else v2.Identity()  # Compose refuses no ops
    return None, pipeline


class BatchNormalize:
    """uint8 images (any leading dims, e.g. a batch) to float32 in [0, 1], then ``(x - mean) / std``:
    the last two steps of ``build_transform`` applied once to a whole batch."""

    def __init__(self, mean, std):
        self.mean, self.std = list(mean), list(std)

    @classmethod
    def from_config(cls, cfg) -> "BatchNormalize":
        return cls(cfg.INPUT.PIXEL_MEAN, cfg.INPUT.PIXEL_STD)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(F.to_dtype(images, torch.float32, scale=True), self.mean, self.std)
