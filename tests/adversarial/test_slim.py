"""SLIM maths (DESIGN §1): L_ILL forms, (layer, λ) sampling, λ ≡ 0 identity, the direction of the
intermediate term, and its zero gradient at the clean point."""
from __future__ import annotations


import pytest
import torch
import torch.nn.functional as F

from slim_dg.adversarial.base import adversarial_mode
from slim_dg.adversarial.objectives import OutputLoss
from slim_dg.adversarial.slim import SLIM, intermediate_loss

from adv_testutils import (ADVERSARIES, ALL_TAPS, STD, ZeroBase, make_batch, make_model, make_pgd, make_advstyle,
                           perturb_seeded, taps_in_mode, tap_cos)
from grid_testutils import first_fast


# ---------------------------------------------------------------------------------------------
# L_ILL
# ---------------------------------------------------------------------------------------------
def test_intermediate_loss_values_per_form():
    # per-sample cosines 0.6, -0.8, 0.0 (features are flattened per sample: 4-D maps work)
    clean = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    adv = torch.tensor([[3.0, 4.0], [-4.0, 3.0], [5.0, 0.0]])
    cos = torch.tensor([0.6, -0.8, 0.0])
    as_maps = lambda t: t.view(3, 2, 1, 1)  # noqa: E731
    for h_adv, h_clean in ((adv, clean), (as_maps(adv), as_maps(clean))):
        torch.testing.assert_close(intermediate_loss(h_adv, h_clean, "cosine"), -cos.mean())
        torch.testing.assert_close(intermediate_loss(h_adv, h_clean, "orthogonal"), -cos.abs().mean())
        torch.testing.assert_close(intermediate_loss(h_adv, h_clean, "reverse"), cos.mean())
    # the cosine is per sample over *all* of its features, not per channel / per position
    a = torch.randn(4, 3, 5, 5)
    c = torch.randn(4, 3, 5, 5)
    want = -F.cosine_similarity(a.reshape(4, -1), c.reshape(4, -1), dim=1).mean()
    torch.testing.assert_close(intermediate_loss(a, c, "cosine"), want)
    with pytest.raises(ValueError, match="cosine, orthogonal, reverse"):
        intermediate_loss(a, c, "l2")


@pytest.mark.parametrize("kind", ["cosine", "orthogonal", "reverse"])
def test_intermediate_loss_gradient_zero_at_clean_point_only(kind):
    torch.manual_seed(0)
    h = torch.randn(6, 8, 3, 3)
    at_clean = h.clone().requires_grad_()
    (g0,) = torch.autograd.grad(intermediate_loss(at_clean, h, kind), at_clean)
    away = (h + 0.5 * torch.randn_like(h)).requires_grad_()
    (g1,) = torch.autograd.grad(intermediate_loss(away, h, kind), away)
    assert g1.abs().max() > 1e-3
    assert g0.abs().max() < 1e-6 * max(1.0, g1.abs().max().item())


def test_intermediate_loss_ascent_directions_per_form():
    """A small ascent step on each form: cosine lowers cos, reverse raises it, orthogonal moves it
    towards 0 from either side (it differs from cosine where cos < 0)."""
    torch.manual_seed(1)
    clean = torch.randn(64, 16)
    sign = torch.where(torch.arange(64) % 2 == 0, 1.0, -1.0).unsqueeze(1)
    adv = sign * clean + 0.8 * torch.randn(64, 16)  # half the samples with cos > 0, half with cos < 0
    c0 = F.cosine_similarity(adv, clean, dim=1)
    assert (c0[::2] > 0.2).all() and (c0[1::2] < -0.2).all()
    moved = {}
    for kind in ("cosine", "orthogonal", "reverse"):
        a = adv.clone().requires_grad_()
        # per-sample ascent: the batch mean only scales each sample's gradient by 1/B
        (g,) = torch.autograd.grad(intermediate_loss(a, clean, kind) * 64, a)
        moved[kind] = F.cosine_similarity(adv + 1e-2 * g, clean, dim=1) - c0
    assert (moved["cosine"] < 0).all()
    assert (moved["reverse"] > 0).all()
    towards_zero = moved["orthogonal"] * torch.sign(c0)
    assert (towards_zero < 0).all()
    assert (moved["orthogonal"][1::2] > 0).all()  # where cos < 0, orthogonal and cosine disagree


def test_slim_rejects_bad_arguments():
    with pytest.raises(ValueError):
        SLIM([])
    with pytest.raises(ValueError):
        SLIM([1], loss="l2")
    with pytest.raises(ValueError):
        SLIM([1], lambda_min=1.0, lambda_max=0.0)
    with pytest.raises(ValueError):
        SLIM([1], sample_per="epoch")


def test_reverse_is_refused_where_it_would_repeat_cosine():
    """+cos weighted λ is -cos weighted -λ: over a symmetric λ range reverse and cosine draw the same
    objectives, so that ablation is refused with the reason; a one-sided range makes them differ."""
    h_adv, h_clean = torch.randn(4, 6), torch.randn(4, 6)
    assert torch.equal(intermediate_loss(h_adv, h_clean, "reverse"), -intermediate_loss(h_adv, h_clean, "cosine"))
    for lo, hi in ((-1.0, 1.0), (-0.3, 0.3)):
        with pytest.raises(ValueError, match=r"same objectives as cosine.*SLIM.LAMBDA_MIN 0"):
            SLIM([1], loss="reverse", lambda_min=lo, lambda_max=hi)
    SLIM([1], loss="reverse", lambda_min=0.0, lambda_max=0.0)  # λ ≡ 0 is the plain method for every form
    SLIM([1], loss="cosine")  # the symmetric default stays for the other forms
    SLIM([1], loss="orthogonal")
    # one-sided: reverse on [0, 1] pulls back where cosine on [0, 1] pushes away, draw for draw
    rev, cos = (SLIM([1], loss=k, lambda_min=0.0, lambda_max=1.0, seed=4) for k in ("reverse", "cosine"))
    logits, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    for _ in range(3):
        rev.begin_step(), cos.begin_step()
        ce = F.cross_entropy(logits, y)
        r, c = rev(logits, y, {1: h_adv}, {1: h_clean}) - ce, cos(logits, y, {1: h_adv}, {1: h_clean}) - ce
        assert rev.lam == cos.lam > 0 and torch.allclose(r, -c) and not torch.allclose(r, c)


def test_reverse_rule_is_checked_with_the_config():
    from slim_dg.config import ConfigError, get_cfg_defaults, validate_cfg

    cfg = get_cfg_defaults()
    cfg.TRAINER.NAME, cfg.SLIM.LOSS = "AdvStyleSLIM", "reverse"
    cfg.DATASET.TARGET_DOMAINS = ["texture"]
    with pytest.raises(ConfigError, match="reverse.*same objectives as cosine"):
        validate_cfg(cfg)
    cfg.SLIM.LAMBDA_MIN = 0.0
    validate_cfg(cfg)


def test_slim_needs_both_taps():
    s = SLIM([2], lambda_min=1, lambda_max=1)
    s.begin_step()
    logits, y = torch.randn(2, 3), torch.tensor([0, 1])
    with pytest.raises(ValueError, match="tap 2"):
        s(logits, y, {2: torch.randn(2, 4)}, {})
    with pytest.raises(ValueError, match="tap 2"):
        s(logits, y, {}, {2: torch.randn(2, 4)})


def test_slim_value_is_ce_plus_lambda_ill():
    s = SLIM([1, 3], loss="cosine", lambda_min=-0.7, lambda_max=0.9, seed=5)
    torch.manual_seed(0)
    logits, y = torch.randn(4, 5), torch.tensor([0, 1, 2, 3])
    adv = {1: torch.randn(4, 6), 3: torch.randn(4, 2, 2, 2)}
    clean = {1: torch.randn(4, 6), 3: torch.randn(4, 2, 2, 2)}
    for _ in range(5):
        (layer,) = s.begin_step()
        assert layer == s.layer and -0.7 <= s.lam <= 0.9
        want = F.cross_entropy(logits, y) + s.lam * intermediate_loss(adv[layer], clean[layer], "cosine")
        torch.testing.assert_close(s(logits, y, adv, clean), want)


# ---------------------------------------------------------------------------------------------
# sampling of (layer, λ)
# ---------------------------------------------------------------------------------------------
def test_draw_layers_uniform_and_lambda_uniform_in_range():
    layers = [4, 0, 2, 1, 3, 2]  # duplicates and order do not matter
    s = SLIM(layers, lambda_min=0.2, lambda_max=0.6, seed=3)
    assert s.layers == [0, 1, 2, 3, 4] and s.clean_taps == [0, 1, 2, 3, 4]
    n = 4000
    draws = [s.draw() for _ in range(n)]
    counts = {l: 0 for l in s.layers}
    for l, _ in draws:
        counts[l] += 1
    expected = n / len(s.layers)
    for l, c in counts.items():
        assert 0.8 * expected <= c <= 1.2 * expected, counts
    lams = torch.tensor([lam for _, lam in draws], dtype=torch.float64)
    assert lams.min() >= 0.2 and lams.max() <= 0.6
    assert abs(lams.mean().item() - 0.4) < 0.01  # 0.4 / sqrt(12 n) ≈ 0.0018 standard error
    assert abs(lams.var().item() - 0.4 ** 2 / 12) < 0.15 * 0.4 ** 2 / 12  # uniform, not concentrated
    # the tails are reached (uniform over the whole range)
    assert (lams < 0.24).any() and (lams > 0.56).any()


def test_default_lambda_range_is_symmetric_minus_one_one():
    s = SLIM([0, 1], seed=0)
    lams = torch.tensor([s.draw()[1] for _ in range(4000)])
    assert lams.min() >= -1 and lams.max() <= 1
    assert lams.min() < -0.95 and lams.max() > 0.95
    assert abs(lams.mean().item()) < 0.05
    assert (lams < 0).float().mean().item() == pytest.approx(0.5, abs=0.05)


def test_draws_are_seeded_use_own_generator_and_resume():
    rng = torch.get_rng_state()
    a = [SLIM([0, 1, 2], seed=7).draw() for _ in range(1)]
    s1, s2, s3 = SLIM([0, 1, 2], seed=7), SLIM([0, 1, 2], seed=7), SLIM([0, 1, 2], seed=8)
    seq1 = [s1.draw() for _ in range(20)]
    seq2 = [s2.draw() for _ in range(20)]
    seq3 = [s3.draw() for _ in range(20)]
    assert seq1 == seq2 and seq1 != seq3 and a[0] == seq1[0]
    # the global stream (random starts, dropout) is not consumed: λ ≡ 0 can be bit-identical
    assert torch.equal(torch.get_rng_state(), rng)
    # checkpoint round trip continues the same sequence
    state = s1.state_dict()
    cont = [s1.draw() for _ in range(5)]
    s4 = SLIM([0, 1, 2], seed=99)
    s4.load_state_dict(state)
    assert [s4.draw() for _ in range(5)] == cont


def test_sample_per_batch_keeps_draw_within_batch_step_redraws():
    per_batch = SLIM([0, 1, 2, 3, 4], sample_per="batch", seed=1)
    firsts = []
    for _ in range(20):
        per_batch.start_batch()
        steps = [(tuple(per_batch.begin_step()), per_batch.lam) for _ in range(5)]
        assert all(st == steps[0] for st in steps)
        firsts.append(steps[0])
    assert len(set(firsts)) == 20  # a new (layer, λ) for every batch (λ is continuous)

    per_step = SLIM([0, 1, 2, 3, 4], sample_per="step", seed=1)
    per_step.start_batch()
    steps = [(tuple(per_step.begin_step()), per_step.lam) for _ in range(50)]
    assert len({lam for _, lam in steps}) == 50
    assert len({layer for layer, _ in steps}) == 5


class RecordingSLIM(SLIM):
    def __call__(self, logits, y, adv_taps=None, clean_taps=None):
        self.calls.append((self.layer, self.lam, sorted(adv_taps)))
        return super().__call__(logits, y, adv_taps, clean_taps)


@pytest.mark.parametrize("sample_per", ["batch", "step"])
def test_sampling_granularity_inside_the_inner_loop(sample_per):
    model = make_model()
    x, y = make_batch()
    adv = make_pgd(steps=4)
    obj = RecordingSLIM(ALL_TAPS, sample_per=sample_per, seed=2)
    obj.calls = []
    clean = taps_in_mode(model, adv, x, obj.clean_taps)
    obj.start_batch()
    perturb_seeded(adv, model, x, y, obj, clean)
    assert len(obj.calls) == 4
    assert all(taps == [layer] for layer, _, taps in obj.calls)  # only the drawn tap is computed
    lams = {lam for _, lam, _ in obj.calls}
    if sample_per == "batch":
        assert len({(layer, lam) for layer, lam, _ in obj.calls}) == 1
    else:
        assert len(lams) == 4


# ---------------------------------------------------------------------------------------------
# λ ≡ 0 is the plain method; λ ≠ 0 is not
# ---------------------------------------------------------------------------------------------
def _plain_and_slim(name, slim, steps=3, **kw):
    model = make_model()
    x, y = make_batch()
    adv = ADVERSARIES[name](steps=steps, **kw)
    clean = taps_in_mode(model, adv, x, slim.clean_taps)
    plain = perturb_seeded(adv, model, x, y, OutputLoss(), {})
    slim.start_batch()
    with_slim = perturb_seeded(adv, model, x, y, slim, clean)
    return plain, with_slim


@pytest.mark.parametrize("name", list(ADVERSARIES))
@pytest.mark.parametrize("loss", ["cosine", "orthogonal", "reverse"])
def test_lambda_zero_is_bit_identical_to_plain(name, loss):
    plain, with_slim = _plain_and_slim(name, SLIM(ALL_TAPS, loss=loss, lambda_min=0.0, lambda_max=0.0), steps=3)
    assert len(plain) == len(with_slim)
    for p, q in zip(plain, with_slim):
        assert torch.equal(p, q)


@pytest.mark.parametrize("name", list(ADVERSARIES))
def test_lambda_nonzero_changes_adversarial_params(name):
    plain, with_slim = _plain_and_slim(name, SLIM(ALL_TAPS, lambda_min=0.5, lambda_max=1.0), steps=3)
    assert any(not torch.allclose(p, q, rtol=1e-4, atol=1e-6) for p, q in zip(plain, with_slim))


# ---------------------------------------------------------------------------------------------
# direction of the intermediate term (λ > 0, CE switched off)
# ---------------------------------------------------------------------------------------------
def _one_step_cos(adv, slim, layer, seed=11):
    model = make_model()
    x, y = make_batch()
    clean = taps_in_mode(model, adv, x, [layer])
    torch.manual_seed(seed)
    start = adv.init_params(model, x)
    end = perturb_seeded(adv, model, x, y, slim, clean, seed=seed)  # same random start
    c0 = tap_cos(taps_in_mode(model, adv, x, [layer], start)[layer], clean[layer])
    c1 = tap_cos(taps_in_mode(model, adv, x, [layer], end)[layer], clean[layer])
    return c0, c1


@pytest.mark.parametrize("layer", first_fast([1, 2, 3]))
@pytest.mark.parametrize("kind", ["cosine", "orthogonal", "reverse"])
def test_ill_direction_pgd(kind, layer):
    adv = make_pgd(steps=1, eps=16 / 255, random_start=1.0, step_size=1 / 255)
    slim = SLIM([layer], loss=kind, lambda_min=1.0, lambda_max=1.0, base=ZeroBase())
    c0, c1 = _one_step_cos(adv, slim, layer)
    assert (c0 < 0.9999).all()  # the random start has moved off the clean point
    if kind == "cosine":
        assert c1.mean() < c0.mean() - 1e-4
    elif kind == "reverse":
        assert c1.mean() > c0.mean() + 1e-5
    else:
        assert c1.abs().mean() < c0.abs().mean() - 1e-4


def test_ill_direction_with_real_ce_and_large_lambda():
    """With the real CE base, a large λ lets the intermediate term dominate: cosine lowers the
    tap cosine, reverse raises it."""
    layer = 2
    adv = make_pgd(steps=1, eps=16 / 255, random_start=1.0, step_size=1 / 255)
    c0, c_cos = _one_step_cos(adv, SLIM([layer], "cosine", 1000.0, 1000.0), layer)
    _, c_rev = _one_step_cos(adv, SLIM([layer], "reverse", 1000.0, 1000.0), layer)
    assert c_cos.mean() < c0.mean() < c_rev.mean()


def test_ill_direction_advstyle():
    layer = 2
    adv = make_advstyle(steps=1, random_start=0.2, lr=1.0)
    c0, c_cos = _one_step_cos(adv, SLIM([layer], "cosine", 1.0, 1.0, base=ZeroBase()), layer)
    _, c_rev = _one_step_cos(adv, SLIM([layer], "reverse", 1.0, 1.0, base=ZeroBase()), layer)
    assert c_cos.mean() < c0.mean() - 1e-4
    assert c_rev.mean() > c0.mean() + 1e-5


# ---------------------------------------------------------------------------------------------
# zero gradient at the clean point: the random start is what makes SLIM act
# ---------------------------------------------------------------------------------------------
def _grads_wrt_delta(model, x, y, delta, layer, kind, clean):
    delta = delta.clone().requires_grad_()
    std = torch.tensor(STD).view(1, 3, 1, 1)
    with adversarial_mode(model, "train"):
        logits, taps = model(x + delta / std, taps=[layer])
        (g_ce,) = torch.autograd.grad(F.cross_entropy(logits, y), delta, retain_graph=True)
        (g_ill,) = torch.autograd.grad(intermediate_loss(taps[layer], clean[layer], kind), delta)
    return g_ce, g_ill


@pytest.mark.parametrize("kind", ["cosine", "orthogonal", "reverse"])
def test_ill_gradient_vanishes_at_delta_zero(kind):
    model = make_model()
    x, y = make_batch()
    adv = make_pgd(random_start=0.0)
    torch.manual_seed(0)
    away = (torch.rand_like(x) * 2 - 1) * 8 / 255
    for layer in [1, 2, 3, 4]:
        clean = taps_in_mode(model, adv, x, [layer])
        g_ce, g_ill = _grads_wrt_delta(model, x, y, torch.zeros_like(x), layer, kind, clean)
        scale = g_ce.abs().max().item()
        assert scale > 0
        assert g_ill.abs().max().item() <= 1e-6 * scale, (layer, g_ill.abs().max().item(), scale)
        # ... and it does not vanish off the clean point (the check above is not vacuous)
        _, g_ill_away = _grads_wrt_delta(model, x, y, away, layer, kind, clean)
        assert g_ill_away.abs().max().item() > 1e-4 * scale, (layer, g_ill_away.abs().max().item(), scale)


def test_without_random_start_slim_is_a_no_op_with_random_start_it_acts():
    """One step from the clean point: SLIM's gradient is ~0 there, so AdvStyle's sample equals the
    plain one up to rounding; with a random start it differs."""
    slim = lambda: SLIM(ALL_TAPS, lambda_min=1.0, lambda_max=1.0)  # noqa: E731
    plain, with_slim = _plain_and_slim("advstyle", slim(), steps=1, random_start=0.0)
    ref = max(float((p - q).abs().max()) for p, q in zip(
        plain, _plain_and_slim("advstyle", SLIM(ALL_TAPS, lambda_min=0, lambda_max=0), steps=1,
                               random_start=0.0)[1]))
    assert ref == 0.0
    gap = max(float((p - q).abs().max()) for p, q in zip(plain, with_slim))
    step = max(float((p - s).abs().max()) for p, s in zip(plain, _start_style()))
    assert step > 0 and gap <= 1e-4 * step, (gap, step)

    plain_r, slim_r = _plain_and_slim("advstyle", slim(), steps=1, random_start=0.1)
    gap_r = max(float((p - q).abs().max()) for p, q in zip(plain_r, slim_r))
    assert gap_r > 1e-2 * step, (gap_r, step)


def _start_style():
    from slim_dg.adversarial.advstyle import style_of
    x, _ = make_batch()
    return [s.detach() for s in style_of(x)]


def test_pgd_without_random_start_starts_at_clean_point_and_slim_acts_with_it():
    model = make_model()
    x, y = make_batch()
    adv0 = make_pgd(random_start=0.0)
    (delta,) = adv0.init_params(model, x)
    assert torch.equal(delta, torch.zeros_like(x))
    assert torch.equal(adv0.generate(x, [delta]), x)
    plain, with_slim = _plain_and_slim("pgd", SLIM(ALL_TAPS, lambda_min=1.0, lambda_max=1.0), steps=2,
                                       random_start=1.0)
    assert not torch.equal(plain[0], with_slim[0])
    assert (plain[0] != with_slim[0]).float().mean() > 0.01
