"""The adversary interface: own parameters, ``forward`` on the adversarial version of a batch,
and an inner loop that ascends a given objective.

The inner loop takes gradients with ``torch.autograd.grad`` with respect to the adversary's
parameters only, so nothing is accumulated into the network's ``.grad`` and the optimizer never
sees the inner loop. Batch-norm running statistics are frozen during adversarial passes unless
``update_bn`` is set.
"""
from __future__ import annotations

import contextlib
import functools
from typing import Any, ClassVar, Iterator, Sequence

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..utils.distributed import unwrap


@contextlib.contextmanager
def adversarial_mode(model: nn.Module, bn_mode: str = "train", update_bn: bool = False) -> Iterator[None]:
    """``bn_mode`` "eval" runs the passes in eval mode (running statistics, no dropout); "train"
    normalises with batch statistics, and unless ``update_bn`` leaves the running ones untouched."""
    modes = [(m, m.training) for m in model.modules()]  # per module: a frozen BN stays in eval
    if bn_mode == "eval":
        model.eval()
    frozen = []
    if not update_bn:
        for m in model.modules():
            if isinstance(m, _BatchNorm) and m.training and m.track_running_stats:
                m.track_running_stats = False  # train-mode BN then uses batch stats and updates nothing
                frozen.append(m)
    try:
        yield
    finally:
        for m in frozen:
            m.track_running_stats = True
        for m, training in modes:
            m.training = training


class _Eager:
    """A model called through its Python ``forward``: never its compiled call (``TRAIN.COMPILE``),
    whose backward would also compute the weight gradients the inner loop throws away and which
    compiles a graph per tap set; attributes (``backbone``, ``modules()``, ...) pass through."""

    def __init__(self, module: nn.Module):
        self.module = module

    def __call__(self, *args, **kwargs):
        return self.module.forward(*args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self.module, name)


def inner_loop_model(model: nn.Module) -> _Eager:
    """What the inner loop and the clean-tap pass call: the bare model, uncompiled. Through DDP every
    forward would broadcast the BN buffers (K + 2 broadcasts a step); the inner loop needs none of
    DDP (its gradients are the adversary's own), and the training forwards still go through it."""
    return _Eager(unwrap(model))


class Adversary:
    """Subclasses implement ``init_params``, ``forward`` and ``ascend``; ``perturb`` is the loop.

    The loop runs under whatever autocast its caller set (``TRAIN.AMP``). Under float16 the
    trainer hands over its ``GradScaler`` as ``grad_scaler``: the inner loss is scaled like the
    training loss, so small gradients do not flush to zero in float16.
    """

    #: The config keys this adversary reads beyond the shared ``ADV.*`` ones (``config/defaults.py``), with
    #: their defaults: ``{"ADV.EPS": 8 / 255}``, or a block of its own, ``{"ADV.MINE.SCALE": 0.5}``. They join
    #: the config defaults when the adversary is registered; other keys stay unknown (an error).
    config_keys: ClassVar[dict[str, Any]] = {}

    grad_scaler: torch.amp.GradScaler | None = None
    #: what ``ascent_direction`` measures (recorded by the gradient-diversity analysis)
    direction_space: str = "gradient wrt the adversary's parameters"
    overflowed_steps: torch.Tensor | int = 0  # inner steps left out for a float16 overflow (under grad_scaler)

    def __init__(self, steps: int = 1, bn_mode: str = "train", update_bn: bool = False):
        self.steps = steps
        self.bn_mode = bn_mode
        self.update_bn = update_bn

    @classmethod
    def from_config(cls, cfg, model: nn.Module) -> "Adversary":
        raise NotImplementedError

    @classmethod
    def check_config(cls, cfg) -> None:
        """Raise ``slim_dg.config.ConfigError`` (its message says what to change) for settings this
        adversary cannot train with; ``validate_cfg`` calls it before any data is read or model built."""

    def init_params(self, model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
        """Fresh parameters for this batch (random start applied), as tensors requiring grad."""
        raise NotImplementedError

    def forward(self, model: nn.Module, x: torch.Tensor, params: Sequence[torch.Tensor],
                taps: Sequence[int] | None = None):
        """The model's output on the adversarial version of ``x`` (logits, or logits and taps)."""
        raise NotImplementedError

    def joint_forward(self, model: nn.Module, x: torch.Tensor, params: Sequence[torch.Tensor]) -> torch.Tensor:
        """Logits of ``cat([x, x̃])`` in one forward (one BN batch; ``ADV.JOINT_FORWARD``)."""
        raise NotImplementedError(f"{type(self).__name__} has no joint clean + adversarial forward")

    @torch.no_grad()
    def ascend(self, x: torch.Tensor, params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor]) -> None:
        """One in-place ascent step on ``params`` (the adversary of batch ``x``)."""
        raise NotImplementedError

    def ascent_direction(self, grads: Sequence[torch.Tensor]) -> torch.Tensor:
        """Per sample, the direction one ascent step moves the parameters in, before its size and any
        projection, flattened to (batch, dim). Every adversary's parameters are per sample."""
        return torch.cat([g.flatten(1) for g in grads], dim=1)

    def perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, objective,
                clean_taps: dict[int, torch.Tensor] | None = None) -> list[torch.Tensor]:
        """Maximise ``objective`` over the adversary's parameters; returns them detached."""
        params = self.init_params(model, x)
        with adversarial_mode(model, self.bn_mode, self.update_bn):
            for _ in range(self.steps):
                taps = objective.begin_step()
                out = self.forward(model, x, params, taps=taps)
                logits, adv_taps = out if taps else (out, {})
                grads = objective.ascent_gradients(lambda losses: self.gradients_of(losses, params),
                                                   logits, y, adv_taps, clean_taps or {})
                self.ascend(x, params, grads)
        return [p.detach() for p in params]

    def gradients(self, loss: torch.Tensor, params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """d loss / d params, through the loss scale of ``grad_scaler`` when one is enabled."""
        return self.gradients_of([loss], params)[0]

    def gradients_of(self, losses: Sequence[torch.Tensor], params: Sequence[torch.Tensor]) -> list[list[torch.Tensor]]:
        """For each loss, d loss / d params (one backward each), through the loss scale of ``grad_scaler``
        when one is enabled.

        Everything stays on the device (no ``get_scale()``, no ``.item()``): an inner step must not
        wait for the GPU. An overflow in any gradient of any loss leaves all parameters put for this
        step, and is counted in ``overflowed_steps`` (the trainer logs it). A parameter a loss does not
        depend on gets a zero gradient (SLIM's term at a tap before FeatAdvStyle's first stage)."""
        def grad(loss, i):
            return torch.autograd.grad(loss, params, retain_graph=i < len(losses) - 1, materialize_grads=True)

        scaler = self.grad_scaler
        if scaler is None or not scaler.is_enabled():
            return [list(grad(loss, i)) for i, loss in enumerate(losses)]
        scale = scaler.scale(torch.ones((), device=losses[0].device))  # the scale as a device tensor
        grads = [grad(loss * scale, i) for i, loss in enumerate(losses)]
        # one joint check: at this scale (the training step's scaler lowers it next) all stay put
        finite = torch.stack([torch.isfinite(g).all() for gs in grads for g in gs]).all()
        self.overflowed_steps = self.overflowed_steps + (~finite).int()
        return [[torch.where(finite, g / scale, torch.zeros_like(g)) for g in gs] for gs in grads]


class ImageAdversary(Adversary):
    """An adversary that produces an image ``x̃ = generate(x, params)``."""

    def generate(self, x: torch.Tensor, params: Sequence[torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, model, x, params, taps=None):
        return model(self.generate(x, params), taps=taps)

    def joint_forward(self, model, x, params):
        return model(torch.cat([x, self.generate(x, params)]))


@functools.lru_cache(maxsize=64)
def channel_constant(values: tuple[float, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``values`` as a (1, C, 1, 1) tensor on ``device``, built once per (values, dtype, device):
    building it from a list on a GPU is a host-to-device copy that waits, every call."""
    with torch.inference_mode(False):  # a cached inference tensor could not be saved for a later backward
        return torch.tensor(values, dtype=dtype, device=device).view(1, -1, 1, 1)


@functools.lru_cache(maxsize=64)
def _bounds(mean: tuple[float, ...], std: tuple[float, ...], dtype: torch.dtype, device: torch.device):
    m, s = channel_constant(mean, dtype, device), channel_constant(std, dtype, device)
    with torch.inference_mode(False):
        return (0 - m) / s, (1 - m) / s


def pixel_bounds(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Where pixel values 0 and 1 land after ``Normalize(mean, std)``, shaped to broadcast over ``x``."""
    return _bounds(tuple(mean), tuple(std), x.dtype, x.device)
