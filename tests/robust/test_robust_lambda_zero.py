"""DESIGN §1 for the robustness trainers: with λ ≡ 0, PGD-AT+SLIM, TRADES+SLIM and MART+SLIM
produce exactly the plain method's adversarial samples and training steps (same seed)."""
from __future__ import annotations

import pytest
import torch

from slim_dg.adversarial.pgd import PGD
from slim_dg.adversarial.slim import SLIM

from grid_testutils import first_fast
from robust_testutils import METHODS, build_trainer, make_batch, make_model


@pytest.fixture
def captured(monkeypatch):
    """Every adversarial batch a step trains on (``generate`` with the final, detached δ)."""
    seen = []
    original = PGD.generate

    def generate(self, x, params):
        out = original(self, x, params)
        if not params[0].requires_grad:  # inside the inner loop δ requires grad
            seen.append(out.detach().clone())
        return out

    monkeypatch.setattr(PGD, "generate", generate)
    return seen


def run_steps(trainer, n=2):
    out = []
    for i in range(n):
        x, y = make_batch(seed=10 + i)
        torch.manual_seed(100 + i)  # the random starts
        out.append(trainer.run_step({"img": x, "label": y}))
    return out


def same_state(a, b) -> bool:
    sa, sb = a.model.state_dict(), b.model.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("balance", ["none", "grad_norm"])
@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("bn_mode", first_fast(["train", "eval"]))
def test_lambda_zero_is_the_plain_method_bit_for_bit(method, bn_mode, balance, captured):
    plain = build_trainer(method, slim=False, bn_mode=bn_mode)
    slim = build_trainer(method, slim=True, bn_mode=bn_mode, lam=(0.0, 0.0), balance=balance)
    assert isinstance(slim.objective, SLIM) and slim.objective.balance == balance
    assert not isinstance(plain.objective, SLIM)
    assert type(slim.objective.base) is type(plain.objective)  # SLIM wraps the method's own inner objective
    assert same_state(plain, slim)
    lp = run_steps(plain)
    adv_plain = list(captured)
    captured.clear()
    ls = run_steps(slim)
    adv_slim = list(captured)
    assert len(adv_plain) == len(adv_slim) == 2
    for a, b in zip(adv_plain, adv_slim):
        assert torch.equal(a, b)  # the adversarial samples
    for a, b in zip(lp, ls):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert same_state(plain, slim)  # the training steps
    fresh = make_model().state_dict()
    assert any(not torch.equal(v, fresh[k]) for k, v in plain.model.state_dict().items())  # not vacuous


@pytest.mark.parametrize("balance", first_fast(["none", "grad_norm"]))
@pytest.mark.parametrize("method", sorted(METHODS))
def test_nonzero_lambda_changes_the_adversarial_samples(method, balance, captured):
    plain = build_trainer(method, slim=False)
    slim = build_trainer(method, slim=True, lam=(0.5, 1.0), balance=balance)
    run_steps(plain, n=1)
    run_steps(slim, n=1)
    assert len(captured) == 2 and not torch.equal(captured[0], captured[1])


def test_mart_bce_inner_objective_is_wrapped_too(captured):
    plain = build_trainer("mart", slim=False, mart_inner="bce")
    slim = build_trainer("mart", slim=True, mart_inner="bce", lam=(0.0, 0.0))
    run_steps(plain, n=1)
    run_steps(slim, n=1)
    assert torch.equal(captured[0], captured[1]) and same_state(plain, slim)


def test_loss_keys_and_no_weight_gradients_from_the_inner_loop():
    keys = {"pgdat": ["ce_adv"], "trades": ["ce", "kl"], "mart": ["bce_adv", "kl"]}
    for method, expected in keys.items():
        t = build_trainer(method, slim=True, lam=(-1.0, 1.0))
        x, y = make_batch()
        losses = t.compute_losses({"img": x, "label": y})
        assert list(losses) == expected and all(v.requires_grad for v in losses.values())
        assert all(p.grad is None for p in t.model.parameters())
