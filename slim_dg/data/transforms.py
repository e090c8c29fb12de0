"""torchvision transforms v2 pipelines built from ``INPUT.*``.

Images stay uint8 tensors through the geometric and colour ops (cheaper than float) and become
normalised float32 only at the end.
"""
from __future__ import annotations

import torch
from torchvision.transforms import InterpolationMode, v2

TRAIN_TRANSFORMS = ("random_resized_crop", "random_translation", "random_crop", "random_flip", "color_jitter")
_INTERPOLATION = {"bilinear": InterpolationMode.BILINEAR, "bicubic": InterpolationMode.BICUBIC,
                  "nearest": InterpolationMode.NEAREST}


def build_transform(cfg, is_train: bool) -> v2.Compose:
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
    ops += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(inp.PIXEL_MEAN), list(inp.PIXEL_STD))]
    return v2.Compose(ops)
