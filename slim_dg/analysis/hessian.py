"""Module-wise Hessian trace of the training loss, by Hutchinson's estimator.

``tr(H) = E_v[vᵀ H v]`` for Rademacher ``v`` (entries ±1). One Hessian-vector product per sample
(double backward) serves every module at once: restricted to the parameters ``P_m`` of module
``m``, ``v_mᵀ (H v)_m`` is an unbiased estimate of ``tr(H_mm)``, the cross terms having zero mean
because the blocks of ``v`` are independent. Reported per module: the mean over samples and its
standard error (sample std / √N). A lower trace is a flatter minimum.

Written here because no maintained library we could depend on provides it (PyHessian is
unmaintained and unpackaged for current torch); it is a few lines on ``torch.autograd``.
"""
from __future__ import annotations

import math
from typing import Callable, Mapping, Sequence

import torch
from torch import nn


def rademacher_like(t: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    v = torch.randint(0, 2, t.shape, generator=generator, dtype=torch.int8).to(t.device, t.dtype)
    return v.mul_(2).sub_(1)


def hutchinson_trace(loss_fn: Callable[[], torch.Tensor], groups: Mapping[str, Sequence[nn.Parameter]],
                     samples: int = 100, seed: int = 0) -> dict[str, dict]:
    """``{group: {"trace", "stderr", "samples", "num_params"}}`` for the loss ``loss_fn()``."""
    if samples < 2:
        raise ValueError("Hutchinson's estimator needs at least 2 samples for a standard error")
    names = [n for n in groups if groups[n]]
    params = [p for n in names for p in groups[n]]
    loss = loss_fn()
    grads = torch.autograd.grad(loss, params, create_graph=True)
    g = torch.Generator().manual_seed(seed)
    estimates = {n: [] for n in names}
    for i in range(samples):
        vs = [rademacher_like(p, g) for p in params]
        hvs = torch.autograd.grad(grads, params, grad_outputs=vs, retain_graph=i < samples - 1)
        k = 0
        for n in names:
            m = len(groups[n])
            estimates[n].append(sum((v * hv).sum() for v, hv in zip(vs[k:k + m], hvs[k:k + m])).item())
            k += m
    out = {}
    for n in names:
        e = torch.tensor(estimates[n], dtype=torch.float64)
        out[n] = {"trace": e.mean().item(), "stderr": (e.std() / math.sqrt(samples)).item(), "samples": samples,
                  "num_params": sum(p.numel() for p in groups[n])}
    return out


def stage_parameter_groups(model) -> dict[str, list[nn.Parameter]]:
    """A ``Classifier``'s trainable parameters grouped by backbone stage (timm's tap names), the
    head, and ``other`` (stem, norms outside the stages)."""
    backbone = model.backbone
    groups: dict[str, list[nn.Parameter]] = {}
    seen: set[int] = set()
    for i, name in enumerate(backbone.tap_names):
        ps = [p for p in backbone.stage_module(i).parameters() if p.requires_grad and id(p) not in seen]
        seen.update(id(p) for p in ps)
        groups[name] = ps
    groups["head"] = [p for p in model.head.parameters() if p.requires_grad]
    seen.update(id(p) for p in groups["head"])
    groups["other"] = [p for p in model.parameters() if p.requires_grad and id(p) not in seen]
    return {n: ps for n, ps in groups.items() if ps}


def loss_trace_by_stage(model, x: torch.Tensor, y: torch.Tensor, samples: int = 100, seed: int = 0) -> dict[str, dict]:
    """Hutchinson traces of the cross-entropy on ``(x, y)``, per stage, with the model in eval
    mode (the loss surface of the deployed model: BN with running statistics, no dropout)."""
    was_training = model.training
    model.eval()
    try:
        return hutchinson_trace(lambda: nn.functional.cross_entropy(model(x), y), stage_parameter_groups(model),
                                samples, seed)
    finally:
        model.train(was_training)
