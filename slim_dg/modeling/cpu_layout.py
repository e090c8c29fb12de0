"""On the CPU: channels-last activations through a network's early stages, contiguous after.

oneDNN's convolutions and torch's pooling are faster on channels-last (NHWC) activations while the
maps are large (torch's NCHW max-pool of a ResNet stem alone: 8.3 ms, NHWC 0.45 ms, batch 32 at
64 px). On small maps with large weights it turns round: a channels-last convolution with contiguous
weights reorders its weights at every call, and channels-last weights cost copies of their gradients.
Measured on 2 cores, a ResNet-18 training step relative to all contiguous, paired turns in one
process (machine drift hits both alike): at 64 px, batch 32, channels-last through layer2 (8x8 maps)
0.91, through layer3 (4x4) 0.92, through layer4 (2x2) 1.02, model and batches channels-last
(``TRAIN.CHANNELS_LAST``) 1.00; at 224 px, batch 16, through layer2-layer4 0.88-0.90; the CIFAR
ResNet-18 at 32 px, batch 64, through layer3 (8x8) 0.91. Evaluation at 64 px: 1.64 -> 1.39 ms an
image. Hence the rule: channels-last while a stage's output maps are at least ``MIN_MAP_SIDE`` on
each side.

A layout changes where values sit in memory, not the arithmetic: evaluation logits are bit-identical;
a training step's batch-norm statistics and weight gradients are reduced in another order (within
1e-6). The weights and checkpoints stay contiguous.
"""
from __future__ import annotations

from typing import Sequence

import torch

from .backbone import TimmBackbone

MIN_MAP_SIDE = 8


def channels_last_taps(backbone: TimmBackbone, img_size: Sequence[int]) -> int:
    """How many leading taps (stages) produce maps of at least ``MIN_MAP_SIDE`` on each side, found
    by one forward of a blank image (0 for a network whose stages are not image maps, e.g. a ViT's
    tokens). The backbone's mode and state are left as they were."""
    shapes: dict[int, tuple[int, ...]] = {}

    def record(index):
        def hook(_module, _inputs, output):
            shapes.setdefault(index, tuple(output.shape) if torch.is_tensor(output) else ())
        return hook

    handles = [backbone.stage_module(i).register_forward_hook(record(i)) for i in range(backbone.num_taps)]
    was_training = backbone.training
    try:
        backbone.eval()
        with torch.inference_mode():
            param = next(backbone.parameters())
            backbone.model.forward_features(torch.zeros(1, 3, *img_size, device=param.device, dtype=param.dtype))
    finally:
        backbone.train(was_training)
        for h in handles:
            h.remove()
    count = 0
    while count in shapes and len(shapes[count]) == 4 and min(shapes[count][2:]) >= MIN_MAP_SIDE:
        count += 1
    return count


def use_early_channels_last(backbone: TimmBackbone, img_size: Sequence[int]) -> str | None:
    """Run the input and the leading stages of ``channels_last_taps`` channels-last, the rest
    contiguous. Returns the name of the last channels-last stage, or None (nothing changed)."""
    count = channels_last_taps(backbone, img_size)
    if count == 0:
        return None
    backbone.input_memory_format = torch.channels_last
    backbone.stage_module(count - 1).register_forward_hook(_contiguous)
    return backbone.tap_names[count - 1]


def _contiguous(_module, _inputs, output):
    return output.contiguous() if torch.is_tensor(output) else output
