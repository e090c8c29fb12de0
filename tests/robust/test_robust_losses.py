"""TRADES' and MART's losses against values computed by hand (plain math on a 2-sample, 3-class
batch), and the inner objectives and the CW margin against the same definitions."""
from __future__ import annotations

import math
import os

import pytest
import torch

from slim_dg.adversarial.robust import build_method
from slim_dg.adversarial.objectives import BoostedCE, KLToClean, mart_loss, trades_loss
from slim_dg.analysis.attacks import CWMargin
from slim_dg.config import get_cfg_defaults, merge_from_file

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CLEAN = [[2.0, 0.5, -1.0], [0.1, 0.3, 0.2]]
ADV = [[0.5, 1.5, -0.5], [1.0, -1.0, 0.0]]
Y = [0, 2]


def softmax(z):
    e = [math.exp(v) for v in z]
    return [v / sum(e) for v in e]


def kl(p, q):
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))


def tensors():
    return (torch.tensor(CLEAN, dtype=torch.float64, requires_grad=True),
            torch.tensor(ADV, dtype=torch.float64, requires_grad=True), torch.tensor(Y))


def test_trades_matches_hand_computed():
    beta = 6.0
    ce = [-math.log(softmax(z)[y]) for z, y in zip(CLEAN, Y)]
    kls = [kl(softmax(c), softmax(a)) for c, a in zip(CLEAN, ADV)]
    clean, adv, y = tensors()
    out = trades_loss(clean, adv, y, beta)
    assert out["ce"].item() == pytest.approx(sum(ce) / 2, rel=1e-12)
    assert out["kl"].item() == pytest.approx(beta * sum(kls) / 2, rel=1e-12)
    # the outer KL differentiates through the clean prediction as well (as in TRADES)
    out["kl"].backward()
    assert clean.grad.abs().sum() > 0 and adv.grad.abs().sum() > 0
    # and the inner objective is the same KL with the clean prediction fixed
    inner = KLToClean()(adv.detach(), torch.softmax(clean.detach(), 1))
    assert inner.item() == pytest.approx(sum(kls) / 2, rel=1e-12)


def test_trades_kl_gradient_matches_finite_differences():
    clean, adv, y = tensors()
    trades_loss(clean, adv, y, 1.0)["kl"].backward()
    h = 1e-6
    for i in range(2):
        for j in range(3):
            bumped = [row[:] for row in CLEAN]
            bumped[i][j] += h
            up = sum(kl(softmax(c), softmax(a)) for c, a in zip(bumped, ADV)) / 2
            down = sum(kl(softmax(c), softmax(a)) for c, a in zip(CLEAN, ADV)) / 2
            assert clean.grad[i, j].item() == pytest.approx((up - down) / h, abs=1e-5)


def test_mart_matches_hand_computed():
    beta = 6.0
    bce, wkl = [], []
    for c, a, y in zip(CLEAN, ADV, Y):
        q, p = softmax(a), softmax(c)
        top_other = max(v for k, v in enumerate(q) if k != y)
        bce.append(-math.log(q[y]) - math.log(1 - top_other))
        wkl.append(kl(p, q) * (1 - p[y]))
    clean, adv, y = tensors()
    out = mart_loss(clean, adv, y, beta)
    assert out["bce_adv"].item() == pytest.approx(sum(bce) / 2, rel=1e-12)
    assert out["kl"].item() == pytest.approx(beta * sum(wkl) / 2, rel=1e-12)
    assert BoostedCE()(adv.detach(), y).item() == pytest.approx(sum(bce) / 2, rel=1e-12)


def _mart_inner_value(cfg) -> float:
    _, adv, y = tensors()
    return build_method("mart", cfg).inner(adv.detach(), y).item()


def test_mart_attack_ascends_the_plain_ce_by_default():
    """MART's paper (Algorithm 1) and the authors' code attack with the plain CE, not the boosted CE of
    the outer loss: the defaults and the shipped config do too; ``bce`` stays as the ablation."""
    ce = sum(-math.log(softmax(a)[y]) for a, y in zip(ADV, Y)) / 2
    bce = sum(-math.log(softmax(a)[y]) - math.log(1 - max(v for k, v in enumerate(softmax(a)) if k != y))
              for a, y in zip(ADV, Y)) / 2
    shipped = get_cfg_defaults()
    merge_from_file(shipped, os.path.join(REPO, "configs", "cifar10_mart.yaml"))
    for cfg in (get_cfg_defaults(), shipped):
        assert cfg.TRAINER.MART.INNER_LOSS == "ce"
        assert _mart_inner_value(cfg) == pytest.approx(ce, rel=1e-12)
    shipped.TRAINER.MART.INNER_LOSS = "bce"
    assert _mart_inner_value(shipped) == pytest.approx(bce, rel=1e-12) and bce > ce + 0.1


def test_boosted_ce_uses_the_largest_wrong_class_even_when_it_is_the_prediction():
    # sample 1 of ADV predicts class 0 but its label is 2: the "other" class is the prediction
    q = softmax(ADV[1])
    expected = -math.log(q[2]) - math.log(1 - q[0])
    assert BoostedCE()(torch.tensor([ADV[1]], dtype=torch.float64), torch.tensor([2])).item() == \
        pytest.approx(expected, rel=1e-12)


def test_cw_margin():
    margins = [max(v for k, v in enumerate(a) if k != y) - a[y] for a, y in zip(ADV, Y)]
    _, adv, y = tensors()
    assert CWMargin()(adv, y).item() == pytest.approx(sum(margins) / 2, rel=1e-12)
