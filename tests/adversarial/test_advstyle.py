"""AdvStyle contracts: style statistics, re-styling, clamping, gradient (not sign) ascent."""
from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F

from slim_dg.adversarial.advstyle import SIGMA_FLOOR, AdvStyle, style_of
from slim_dg.adversarial.base import adversarial_mode
from slim_dg.adversarial.objectives import OutputLoss

from adv_testutils import make_advstyle, make_batch, make_model, perturb_seeded, to_pixels


def test_style_of_is_per_image_per_channel_mean_and_std():
    torch.manual_seed(0)
    x = torch.randn(4, 3, 8, 8) * torch.tensor([1.0, 2.0, 3.0]).view(1, 3, 1, 1) + 5.0
    mu, sigma = style_of(x)
    assert mu.shape == sigma.shape == (4, 3, 1, 1)
    for b in range(4):
        for c in range(3):
            torch.testing.assert_close(mu[b, c, 0, 0], x[b, c].mean())
            torch.testing.assert_close(sigma[b, c, 0, 0], x[b, c].var().sqrt(), rtol=1e-4, atol=1e-5)


def test_init_params_start_at_the_own_style_plus_noise():
    model = make_model()
    x, _ = make_batch()
    mu, sigma = style_of(x)
    p0 = make_advstyle(random_start=0.0).init_params(model, x)
    assert torch.equal(p0[0], mu) and torch.equal(p0[1], sigma) and all(p.requires_grad for p in p0)
    torch.manual_seed(0)
    p1 = make_advstyle(random_start=0.3).init_params(model, x)
    noise = torch.cat([(p1[0] - mu).flatten(), (p1[1] - sigma).flatten()])
    assert 0.15 < noise.std().item() < 0.45  # 48 Gaussian draws of std 0.3


def test_generate_with_own_style_is_identity_and_restyles_otherwise():
    model = make_model()
    x, _ = make_batch()
    adv = make_advstyle(random_start=0.0)
    params = adv.init_params(model, x)
    out = adv.generate(x, params)
    assert out.shape == x.shape
    torch.testing.assert_close(out, x, rtol=1e-5, atol=1e-5)
    # a different style: the output has exactly that per-channel mean and std (no clamp)
    free = make_advstyle(clamp=False)
    new_mu = torch.full_like(params[0], 0.3)
    new_sigma = torch.full_like(params[1], 0.5)
    mu, sigma = style_of(free.generate(x, [new_mu, new_sigma]))
    torch.testing.assert_close(mu, new_mu, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(sigma, new_sigma, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("clamp", [True, False])
def test_clamp_keeps_pixel_range(clamp):
    model = make_model()
    x, y = make_batch()
    adv = make_advstyle(steps=2, random_start=1.0, clamp=clamp)  # a wild style, far outside [0, 1]
    params = perturb_seeded(adv, model, x, y, OutputLoss())
    assert [p.shape for p in params] == [(8, 3, 1, 1), (8, 3, 1, 1)]
    assert not any(p.requires_grad for p in params)
    pix = to_pixels(adv.generate(x, params))
    in_range = bool(pix.min() >= -1e-5 and pix.max() <= 1 + 1e-5)
    assert in_range == clamp


def test_ascent_is_lr_times_gradient_not_its_sign():
    model = make_model()
    x, y = make_batch()
    lr = 0.7
    adv = make_advstyle(steps=1, random_start=0.0, lr=lr)
    start = [p.detach().clone().requires_grad_() for p in adv.init_params(model, x)]
    with adversarial_mode(model, "train"):
        loss = F.cross_entropy(model(adv.generate(x, start)), y)
    grads = torch.autograd.grad(loss, start)
    params = perturb_seeded(adv, model, x, y, OutputLoss())
    for p, s, g in zip(params, start, grads):
        assert g.abs().max() > 0 and not torch.equal(g.abs(), g.abs().max().expand_as(g))
        torch.testing.assert_close(p, s.detach() + lr * g, rtol=1e-6, atol=1e-6)
    with torch.no_grad(), adversarial_mode(model, "train"):
        after = F.cross_entropy(model(adv.generate(x, params)), y)
    assert after > loss  # ascent


# ---------------------------------------------------------------------------------------------
# σ′ floor: no contrast inversion
# ---------------------------------------------------------------------------------------------
def _channel_correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a = a - a.mean(dim=(2, 3), keepdim=True)
    b = b - b.mean(dim=(2, 3), keepdim=True)
    return (a * b).sum(dim=(2, 3))


def test_sigma_floor_after_a_large_random_start():
    model = make_model()
    x, _ = make_batch()
    torch.manual_seed(0)
    mu, sigma = make_advstyle(random_start=5.0).init_params(model, x)
    assert sigma.min() == SIGMA_FLOOR  # the noise pushed some σ′ below zero: the floor binds
    assert (sigma >= SIGMA_FLOOR).all() and sigma.requires_grad
    torch.manual_seed(0)
    mu_free = make_advstyle(random_start=5.0).init_params(model, x)[0]
    assert torch.equal(mu, mu_free)  # μ′ is not constrained


def test_sigma_floor_after_a_large_ascent_step():
    model = make_model()
    x, _ = make_batch()
    adv = make_advstyle(random_start=0.0, clamp=False)
    params = adv.init_params(model, x)
    mu0 = params[0].detach().clone()
    adv.ascend(x, params, [torch.ones_like(params[0]), torch.full_like(params[1], -10.0)])  # σ′ - 10 < 0
    assert torch.equal(params[1], torch.full_like(params[1], SIGMA_FLOOR))
    torch.testing.assert_close(params[0], mu0 + 1.0)
    # the re-styled image keeps the contrast's sign in every channel (it is not inverted)
    assert (_channel_correlation(adv.generate(x, params), x) > 0).all()


def test_reference_config_starts_at_the_clean_style(tmp_path):
    from slim_dg.config import get_cfg_defaults, merge_from_file

    configs = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "configs")
    cfgs = {}
    for name in ("advstyle", "advstyle_reference"):
        path = tmp_path / f"{name}.yaml"
        path.write_text(f"_BASE_: [{configs}/datasets/digits_dg.yaml, {configs}/trainers/{name}.yaml]\n")
        cfgs[name] = get_cfg_defaults()
        merge_from_file(cfgs[name], str(path))
    ours, ref = cfgs["advstyle"], cfgs["advstyle_reference"]
    assert ours.ADV.RANDOM_START > 0 and ref.ADV.RANDOM_START == 0.0
    model = make_model()
    x, _ = make_batch()
    torch.manual_seed(0)
    params = AdvStyle.from_config(ref).init_params(model, x)
    assert all(torch.equal(p, s) for p, s in zip(params, style_of(x)))  # exactly the clean style
    ref.ADV.RANDOM_START = ours.ADV.RANDOM_START
    assert ref == ours  # the random start is the only difference
