"""PGD, as the robust trainers and the evaluation run it, stays in the eps-ball and in [0, 1]."""
from __future__ import annotations

import pytest
import torch

from slim_dg.adversarial.objectives import OutputLoss
from slim_dg.adversarial.objectives import BoostedCE, KLToClean
from slim_dg.adversarial.pgd import PGD, pgd_attack
from slim_dg.adversarial.slim import SLIM
from slim_dg.analysis.attacks import CWMargin

from robust_testutils import MEAN, STD, make_batch, make_model, to_pixels

EPS = 8 / 255
TOL = 1e-5  # the float32 round trip through the normalisation


def check(x, x_adv):
    pix, pix_adv = to_pixels(x), to_pixels(x_adv)
    assert (pix_adv - pix).abs().max() <= EPS + TOL
    assert pix_adv.min() >= -TOL and pix_adv.max() <= 1 + TOL
    assert (pix_adv - pix).abs().max() > EPS / 2  # it did move


@pytest.mark.parametrize("inner", ["ce", "kl", "bce"])
@pytest.mark.parametrize("slim", [False, True])
def test_training_pgd_stays_in_ball_and_range(inner, slim):
    model = make_model()
    x, y = make_batch(b=6)
    base = {"ce": OutputLoss(), "kl": KLToClean(), "bce": BoostedCE()}[inner]
    objective = SLIM([0, 1, 2], lambda_min=-1.0, lambda_max=1.0, base=base) if slim else base
    target = torch.softmax(model(x).detach(), 1) if inner == "kl" else y
    with torch.no_grad():
        clean_taps = model(x, taps=[0, 1, 2])[1] if slim else {}
    adversary = PGD(EPS, steps=7, step_size=4 / 255, random_start=1.0, pixel_mean=MEAN, pixel_std=STD)
    torch.manual_seed(0)
    objective.start_batch()
    x_adv = adversary.generate(x, adversary.perturb(model, x, target, objective, clean_taps))
    check(x, x_adv)


@pytest.mark.parametrize("objective", [None, CWMargin()])
def test_evaluation_pgd_stays_in_ball_and_range(objective):
    model = make_model().eval()
    x, y = make_batch(b=6)
    attack = pgd_attack(model, EPS, 5, 2 / 255, MEAN, STD, objective)
    check(x, attack(x, y))
