"""The adversary touches only its own parameters (DESIGN §1): no weight gradients, no weight or
optimizer changes, BN running statistics frozen unless configured, train/eval mode restored."""
from __future__ import annotations

import copy

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from slim_dg.adversarial.base import adversarial_mode
from slim_dg.adversarial.slim import SLIM

from adv_testutils import ADVERSARIES, ALL_TAPS, make_batch, make_model, perturb_seeded

STEPS = 3


def _bn_buffers(model):
    return {n: b.detach().clone() for n, b in model.named_buffers()}


def _run(name, model, **adv_kw):
    x, y = make_batch()
    adv = ADVERSARIES[name](steps=STEPS, **adv_kw)
    slim = SLIM(ALL_TAPS, lambda_min=-1.0, lambda_max=1.0)
    with torch.no_grad(), adversarial_mode(model, adv.bn_mode, update_bn=False):
        clean = model(x, taps=slim.clean_taps)[1]  # never updates BN: only the inner loop is measured
    slim.start_batch()
    return perturb_seeded(adv, model, x, y, slim, clean)


@pytest.mark.parametrize("name", list(ADVERSARIES))
def test_no_weight_gradients_and_weights_unchanged(name):
    model = make_model()
    ref = {k: v.clone() for k, v in model.state_dict().items()}
    _run(name, model)
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(v, ref[k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize("name", list(ADVERSARIES))
def test_preexisting_gradients_and_optimizer_state_untouched(name):
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x, y = make_batch(seed=3)
    torch.nn.functional.cross_entropy(model(x), y).backward()
    opt.step()  # momentum buffers now exist
    grads = [p.grad.clone() for p in model.parameters()]
    state = copy.deepcopy(opt.state_dict())
    weights = [p.detach().clone() for p in model.parameters()]
    _run(name, model)
    assert all(torch.equal(p.grad, g) for p, g in zip(model.parameters(), grads))
    assert all(torch.equal(p, w) for p, w in zip(model.parameters(), weights))
    after = opt.state_dict()
    assert after["param_groups"] == state["param_groups"]
    assert len(after["state"]) == len(state["state"]) > 0
    for k, s in state["state"].items():
        assert torch.equal(after["state"][k]["momentum_buffer"], s["momentum_buffer"])


@pytest.mark.parametrize("name", list(ADVERSARIES))
def test_bn_running_stats_frozen_by_default(name):
    model = make_model()
    ref = _bn_buffers(model)
    _run(name, model, bn_mode="train", update_bn=False)
    assert model.training
    for n, b in model.named_buffers():
        assert torch.equal(b, ref[n]), n
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert bns and all(m.track_running_stats for m in bns)  # the freeze is undone


@pytest.mark.parametrize("name", list(ADVERSARIES))
def test_bn_running_stats_updated_when_configured(name):
    model = make_model()
    ref = _bn_buffers(model)
    _run(name, model, bn_mode="train", update_bn=True)
    bns = {n: m for n, m in model.named_modules() if isinstance(m, _BatchNorm)}
    for n, m in bns.items():
        assert int(m.num_batches_tracked) == int(ref[f"{n}.num_batches_tracked"]) + STEPS
        assert not torch.equal(m.running_mean, ref[f"{n}.running_mean"])
        assert not torch.equal(m.running_var, ref[f"{n}.running_var"])


@pytest.mark.parametrize("name", list(ADVERSARIES))
def test_bn_mode_eval_runs_in_eval_and_restores_train(name):
    model = make_model()
    ref = _bn_buffers(model)
    modes = []
    model.register_forward_pre_hook(lambda m, args: modes.append(m.training))
    bn = next(m for m in model.modules() if isinstance(m, _BatchNorm))
    bn_modes = []
    bn.register_forward_pre_hook(lambda m, args: bn_modes.append(m.training))
    modes.clear()
    _run(name, model, bn_mode="eval", update_bn=True)  # update_bn cannot update anything in eval
    assert modes == [False] * (STEPS + 1)  # + the clean taps of _run, also in eval
    assert bn_modes == [False] * (STEPS + 1)
    assert model.training and all(m.training for m in model.modules())
    for n, b in model.named_buffers():
        assert torch.equal(b, ref[n]), n


def test_eval_model_stays_eval():
    model = make_model().eval()
    _run("pgd", model, bn_mode="train")
    assert not model.training and not any(m.training for m in model.modules())


def test_adversarial_mode_restores_on_error():
    model = make_model()
    with pytest.raises(RuntimeError):
        with adversarial_mode(model, "train", update_bn=False):
            assert not any(m.track_running_stats for m in model.modules() if isinstance(m, _BatchNorm))
            raise RuntimeError("boom")
    assert all(m.track_running_stats for m in model.modules() if isinstance(m, _BatchNorm))
    with pytest.raises(RuntimeError):
        with adversarial_mode(model, "eval"):
            assert not model.training
            raise RuntimeError("boom")
    assert model.training and all(m.training for m in model.modules())


def test_frozen_bn_uses_batch_statistics():
    """Frozen BN still normalises with the batch's statistics in train mode (the same numbers as a
    tracked train-mode pass), not with the running ones."""
    model = make_model()
    x, _ = make_batch()
    with torch.no_grad():
        with adversarial_mode(model, "train", update_bn=False):
            frozen = model(x)
        tracked = copy.deepcopy(model)(x)
        model.eval()
        running = model(x)
    torch.testing.assert_close(frozen, tracked, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(frozen, running, rtol=1e-3, atol=1e-3)
