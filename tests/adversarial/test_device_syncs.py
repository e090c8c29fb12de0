"""The adversaries' hot path without host-device synchronisations or extra DDP/compiled calls
(issue 22, items 4, 5, 6, 7, 9), shown on CPU by counting: tensors built from Python lists,
``.item()``-style reads, calls of the DDP wrapper and of a module's compiled call."""
from __future__ import annotations

import datetime

import pytest
import torch
import torch.distributed as dist

from slim_dg.adversarial import base as adv_base
from slim_dg.adversarial.feat_advstyle import restyle
from slim_dg.adversarial.objectives import OutputLoss
from slim_dg.adversarial.robust import build_method, robust_losses
from slim_dg.adversarial.slim import SLIM
from slim_dg.adversarial.step import adversarial_losses
from slim_dg.config import get_cfg_defaults
from slim_dg.utils.distributed import DistributedDataParallel

from adv_testutils import ADVERSARIES, ALL_TAPS, make_batch, make_model, perturb_seeded


@pytest.mark.parametrize("adversary", ["advstyle", "pgd"])
def test_pixel_constants_are_built_once_per_device_and_dtype(adversary, monkeypatch):
    """``torch.tensor(list, device=cuda)`` is a blocking copy: after the first batch, none is made."""
    model, (x, y) = make_model(), make_batch()
    perturb_seeded(ADVERSARIES[adversary](steps=2), model, x, y, OutputLoss())  # warm the cache
    built = []
    real = torch.tensor
    monkeypatch.setattr(torch, "tensor", lambda *a, **k: built.append(a) or real(*a, **k))
    perturb_seeded(ADVERSARIES[adversary](steps=3), model, x, y, OutputLoss())
    assert built == []
    # another dtype gets its own constants, of that dtype
    lo, hi = adv_base.pixel_bounds(x.double(), (0.5,) * 3, (0.25,) * 3)
    assert lo.dtype == torch.float64 and torch.equal(hi.flatten(), torch.full((3,), 2.0, dtype=torch.float64))


@pytest.mark.parametrize("adversary", list(ADVERSARIES))
def test_inner_loop_under_loss_scaling_never_reads_the_scale_on_the_host(adversary, monkeypatch):
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 10)
    monkeypatch.setattr(torch.amp.GradScaler, "get_scale",
                        lambda self: pytest.fail("get_scale() is an .item(): a sync per inner step"))
    adv = ADVERSARIES[adversary](steps=3)
    adv.grad_scaler = scaler
    model, (x, y) = make_model(), make_batch()
    scaled = perturb_seeded(adv, model, x, y, OutputLoss())
    plain = perturb_seeded(ADVERSARIES[adversary](steps=3), model, x, y, OutputLoss())
    assert all(torch.equal(a, b) for a, b in zip(scaled, plain))  # a power-of-two scale is exact
    assert int(adv.overflowed_steps) == 0


def test_an_overflow_in_one_gradient_holds_every_parameter_and_is_counted():
    """One joint check: FeatAdvStyle has 4 parameter tensors; an inf in one must not let the others move."""
    model, (x, y) = make_model(), make_batch()
    adv = ADVERSARIES["feat_advstyle"](steps=2)
    adv.grad_scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 10)
    grads = [torch.ones(2), torch.tensor([1.0, float("inf")])]
    params = [torch.zeros(2, requires_grad=True) for _ in grads]
    loss = sum((g * p).sum() for g, p in zip(grads, params))
    out = adv.gradients(loss, params)
    assert all(torch.equal(g, torch.zeros(2)) for g in out)
    assert int(adv.overflowed_steps) == 1
    perturb_seeded(adv, model, x, y, OutputLoss())
    assert int(adv.overflowed_steps) == 1  # finite steps are not counted


def test_feature_statistics_under_float16_do_not_overflow():
    """A float16 feature map whose variance exceeds 65504: the statistics are taken in float32."""
    torch.manual_seed(0)
    h = (torch.randn(2, 3, 4, 4) * 400).half()
    assert not torch.isfinite(h.var(dim=(2, 3))).all()  # what float16 statistics would give
    a = torch.full((2, 3), 0.1)
    out = restyle(h, a, a)
    assert out.dtype == torch.float16 and torch.isfinite(out).all()
    ref = restyle(h.float(), a, a)
    torch.testing.assert_close(out.float(), ref, rtol=2e-3, atol=1.0)


@pytest.fixture
def one_process_group(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/store", rank=0, world_size=1,
                            timeout=datetime.timedelta(seconds=60))
    yield
    dist.destroy_process_group()


class _CountingCompiled:
    """Stands in for ``nn.Module.compile()``: the module's compiled call, counted."""

    def __init__(self, module):
        self.calls, self.impl = 0, module._call_impl

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.impl(*args, **kwargs)


def _ddp_and_counters(model):
    compiled = _CountingCompiled(model)
    model._compiled_call_impl = compiled  # what Module.compile() sets; __call__ then goes through it
    ddp = DistributedDataParallel(model)
    ddp_calls = []
    ddp.register_forward_pre_hook(lambda *_: ddp_calls.append(1))
    return ddp, ddp_calls, compiled


@pytest.mark.parametrize("adversary", list(ADVERSARIES))
def test_inner_loop_bypasses_ddp_and_the_compiled_call(adversary, one_process_group):
    """Only the two training forwards (clean, adversarial) go through DDP (each broadcasts the BN
    buffers) and the compiled module; the K inner steps and the clean-tap pass call the bare model."""
    model, (x, y) = make_model(), make_batch()
    ddp, ddp_calls, compiled = _ddp_and_counters(model)
    slim = SLIM(ALL_TAPS, lambda_min=0.5, lambda_max=1.0, seed=0)
    losses = adversarial_losses(ddp, ADVERSARIES[adversary](steps=3), slim, x, y, train_on_clean=True,
                                reuse_clean_taps=True)
    losses["ce"].backward()
    assert len(ddp_calls) == 2 and compiled.calls == 2
    ddp_calls.clear()
    adversarial_losses(ddp, ADVERSARIES[adversary](steps=3, bn_mode="eval"), slim, x, y, train_on_clean=True,
                       reuse_clean_taps=False)["ce"].backward()  # clean taps from an extra (bare) pass
    assert len(ddp_calls) == 2


def test_robust_inner_loop_bypasses_ddp_and_the_compiled_call(one_process_group):
    model, (x, y) = make_model(), make_batch()
    ddp, ddp_calls, compiled = _ddp_and_counters(model)
    cfg = get_cfg_defaults()
    method = build_method("trades", cfg)
    slim = SLIM(ALL_TAPS, seed=0, base=method.inner)
    losses = robust_losses(ddp, ADVERSARIES["pgd"](steps=3), slim, method, x, y)
    sum(losses.values()).backward()
    assert len(ddp_calls) == 2 and compiled.calls == 2  # TRADES: clean and adversarial training forwards
