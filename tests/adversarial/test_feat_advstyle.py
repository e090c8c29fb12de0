"""FeatAdvStyle contracts: restyle maths on NCHW maps and (B, tokens, C) sequences, identity at
a = 0, hooks removed afterwards, works on a CNN and on a ViT."""
from __future__ import annotations

import pytest
import torch

from slim_dg.adversarial.feat_advstyle import FeatAdvStyle, restyle
from slim_dg.adversarial.objectives import OutputLoss
from slim_dg.adversarial.slim import SLIM

from adv_testutils import ALL_TAPS, make_batch, make_feat_advstyle, make_model, perturb_seeded, taps_in_mode


@pytest.mark.parametrize("layout", ["nchw", "tokens"])
def test_restyle_shifts_mean_and_scales_std(layout):
    torch.manual_seed(0)
    if layout == "nchw":
        h = torch.randn(4, 6, 5, 5) * 2 + 1
        dims, shape = (2, 3), (4, 6, 1, 1)
    else:
        h = torch.randn(4, 10, 6) * 2 + 1  # (B, tokens, C): statistics over the tokens
        dims, shape = (1,), (4, 1, 6)
    a_mu, a_sigma = torch.randn(4, 6), torch.rand(4, 6)
    assert torch.equal(restyle(h, torch.zeros(4, 6), torch.zeros(4, 6)), h)
    out = restyle(h, a_mu, a_sigma)
    assert out.shape == h.shape
    mu, sd = h.mean(dim=dims, keepdim=True), h.var(dim=dims, keepdim=True).sqrt()
    torch.testing.assert_close(out.mean(dim=dims, keepdim=True), mu + a_mu.view(shape) * sd, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out.var(dim=dims, keepdim=True).sqrt(), sd * (1 + a_sigma.view(shape)),
                               rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError):
        restyle(torch.randn(4, 6), a_mu, a_sigma)


def _zero_and_random_params(adv, model, x):
    zero = [p.detach() for p in FeatAdvStyle(adv.stages, adv.channels, random_start=0.0).init_params(model, x)]
    assert all(torch.equal(p, torch.zeros_like(p)) for p in zero)
    torch.manual_seed(0)
    rand = [p.detach() for p in adv.init_params(model, x)]
    return zero, rand


def test_zero_params_leave_logits_and_taps_identical_cnn():
    model = make_model().eval()
    x, _ = make_batch()
    adv = make_feat_advstyle(random_start=0.5)
    zero, rand = _zero_and_random_params(adv, model, x)
    assert [p.shape for p in zero] == [(8, 64), (8, 64), (8, 128), (8, 128)]
    with torch.no_grad():
        clean_logits, clean_taps = model(x, taps=ALL_TAPS)
        logits, taps = adv.forward(model, x, zero, taps=ALL_TAPS)
        moved_logits, moved_taps = adv.forward(model, x, rand, taps=ALL_TAPS)
        after_logits = model(x)
    assert torch.equal(logits, clean_logits)
    assert all(torch.equal(taps[i], clean_taps[i]) for i in ALL_TAPS)
    # non-zero params change the edited stages and what follows, not what precedes them
    assert not torch.allclose(moved_logits, clean_logits)
    assert torch.equal(moved_taps[0], clean_taps[0])
    assert not torch.allclose(moved_taps[1], clean_taps[1])  # the tap returns the edited value
    # the hooks are gone after the forward
    assert torch.equal(after_logits, clean_logits)
    assert all(not m._forward_hooks for m in model.modules())


def test_perturb_cnn_shapes_and_ascent():
    model = make_model()
    x, y = make_batch()
    adv = make_feat_advstyle(steps=2, random_start=0.1, lr=1.0)
    torch.manual_seed(5)
    start = [p.detach().clone() for p in adv.init_params(model, x)]
    params = perturb_seeded(adv, model, x, y, OutputLoss(), seed=5)
    assert [p.shape for p in params] == [p.shape for p in start]
    assert all(not p.requires_grad for p in params)
    assert all(not torch.equal(p, s) for p, s in zip(params, start))
    logits = adv.forward(model, x, params)
    assert logits.shape == (8, 10)


def test_vit_tokens_tap():
    from slim_dg.modeling.backbone import create_timm_backbone
    from slim_dg.modeling.classifier import Classifier

    torch.manual_seed(0)
    model = Classifier(create_timm_backbone("vit_tiny_patch16_224", img_size=(32, 32)), 10).eval()
    x, y = make_batch(b=4)
    seen = []
    handle = model.backbone.stage_module(1).register_forward_hook(lambda m, i, o: seen.append(o.shape))
    adv = FeatAdvStyle(stages=[1], channels=[192], lr=1.0, steps=2, random_start=0.1)
    zero, rand = _zero_and_random_params(adv, model, x)
    with torch.no_grad():
        clean = model(x)
        same = adv.forward(model, x, zero)
        moved = adv.forward(model, x, rand)
    handle.remove()
    assert seen[0] == (4, 5, 192)  # (B, tokens, C): 2x2 patches + class token
    assert torch.equal(same, clean)
    assert not torch.allclose(moved, clean)
    # the inner loop runs with SLIM on a ViT tap too
    slim = SLIM([2, 5], lambda_min=1.0, lambda_max=1.0)
    model.train()
    clean_taps = taps_in_mode(model, adv, x, slim.clean_taps)
    params = perturb_seeded(adv, model, x, y, slim, clean_taps)
    assert [p.shape for p in params] == [(4, 192), (4, 192)]
    assert all(torch.isfinite(p).all() for p in params)
