"""PGD contracts: shape, the L_inf ball in pixel units, the valid pixel range, signed steps."""
from __future__ import annotations

import pytest
import torch

from slim_dg.adversarial.base import adversarial_mode
from slim_dg.adversarial.objectives import OutputLoss
from slim_dg.adversarial.slim import SLIM

from adv_testutils import ALL_TAPS, STD, make_batch, make_model, make_pgd, perturb_seeded, taps_in_mode, to_pixels

STD_T = torch.tensor(STD).view(1, 3, 1, 1)


@pytest.mark.parametrize("use_slim", [False, True])
def test_pgd_stays_in_eps_ball_and_pixel_range(use_slim):
    model = make_model()
    x, y = make_batch()
    eps = 8 / 255
    adv = make_pgd(steps=5, eps=eps, step_size=3 / 255, random_start=1.0)
    obj = SLIM(ALL_TAPS) if use_slim else OutputLoss()
    clean = taps_in_mode(model, adv, x, obj.clean_taps) if use_slim else {}
    obj.start_batch()
    params = perturb_seeded(adv, model, x, y, obj, clean)
    assert len(params) == 1 and params[0].shape == x.shape and not params[0].requires_grad
    x_adv = adv.generate(x, params)
    assert x_adv.shape == x.shape
    dist = (x_adv - x).abs() * STD_T  # pixel units
    assert dist.max() <= eps + 1e-6
    assert dist.max() >= eps - 1e-6  # 5 steps of 3/255 reach the boundary somewhere
    pix = to_pixels(x_adv)
    assert pix.min() >= -1e-6 and pix.max() <= 1 + 1e-6


def test_pgd_without_clamp_leaves_pixel_range_with_clamp_does_not():
    model = make_model()
    x, y = make_batch()
    adv = make_pgd(steps=2, random_start=1.0, clamp=False)
    x_adv = adv.generate(x, perturb_seeded(adv, model, x, y, OutputLoss()))
    pix = to_pixels(x_adv)
    assert pix.min() < -1e-3 or pix.max() > 1 + 1e-3  # so the clamp test above can fail
    assert ((x_adv - x).abs() * STD_T).max() <= 8 / 255 + 1e-6


def test_pgd_random_start_within_ball_and_seeded():
    model = make_model()
    x, _ = make_batch()
    adv = make_pgd(random_start=0.5, eps=8 / 255)
    torch.manual_seed(0)
    (d1,) = adv.init_params(model, x)
    torch.manual_seed(0)
    (d2,) = adv.init_params(model, x)
    assert torch.equal(d1, d2) and d1.requires_grad
    assert d1.abs().max() <= 0.5 * 8 / 255 + 1e-7
    assert d1.abs().max() > 0.4 * 8 / 255  # uniform over the ball, not a point


def test_pgd_step_is_signed_gradient_ascent():
    model = make_model()
    x, y = make_batch(edges=False)
    adv = make_pgd(steps=1, random_start=0.0, eps=1.0, step_size=1 / 255, clamp=False)
    (delta,) = perturb_seeded(adv, model, x, y, OutputLoss())
    d = delta.clone().zero_().requires_grad_()
    with adversarial_mode(model, "train"):
        loss = torch.nn.functional.cross_entropy(model(adv.generate(x, [d])), y)
    (g,) = torch.autograd.grad(loss, d)
    assert torch.equal(delta, g.sign() * (1 / 255))
    with torch.no_grad(), adversarial_mode(model, "train"):
        after = torch.nn.functional.cross_entropy(model(adv.generate(x, [delta])), y)
    assert after > loss  # it is an ascent
