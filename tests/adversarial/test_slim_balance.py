"""``SLIM.BALANCE grad_norm``: per sample, L_ILL's gradient w.r.t. the adversary's parameters is rescaled to
the norm of the output loss's, before λ; λ ≡ 0 is still the plain method, with no second backward."""
from __future__ import annotations

import pytest
import torch

from slim_dg.adversarial.objectives import Objective, OutputLoss
from slim_dg.adversarial.slim import SLIM, per_sample_norm

from adv_testutils import ADVERSARIES, ALL_TAPS, make_batch, make_model, perturb_seeded


class Linear(Objective):
    """``J = Σ_i <a_i, θ_i>`` with θ passed as the logits: its gradient w.r.t. θ is ``a``."""

    def __init__(self, a: torch.Tensor):
        self.a = a

    def __call__(self, logits, target, adv_taps=None, clean_taps=None):
        return (self.a * logits).sum()


def autograd_of(theta):
    return lambda losses: [list(torch.autograd.grad(loss, [theta], retain_graph=True)) for loss in losses]


def test_grad_norm_by_hand():
    # θ_i ⊥ h_i, so d(-cos_i / B)/dθ_i = -h_i / (B |θ_i| |h_i|): (0, -1/2) and (-1/4, 0) for B = 2
    theta = torch.tensor([[1.0, 0.0], [0.0, 2.0]], requires_grad=True)
    clean = torch.tensor([[0.0, 1.0], [3.0, 0.0]])
    a = torch.tensor([[3.0, 4.0], [0.0, 1.0]])  # g_out, norms 5 and 1: scales 5 / (1/2) = 10 and 1 / (1/4) = 4
    slim = SLIM([0], lambda_min=0.5, lambda_max=0.5, base=Linear(a), balance="grad_norm")
    slim.begin_step()
    (g,) = slim.ascent_gradients(autograd_of(theta), theta, None, {0: theta}, {0: clean})
    # g_out + λ · scale · g_ill = (3, 4) + 0.5 · 10 · (0, -1/2) and (0, 1) + 0.5 · 4 · (-1/4, 0)
    torch.testing.assert_close(g, torch.tensor([[3.0, 1.5], [-0.5, 1.0]]))
    # unbalanced, the same step would add only λ · g_ill
    plain = SLIM([0], lambda_min=0.5, lambda_max=0.5, base=Linear(a))
    plain.begin_step()
    (g,) = plain.ascent_gradients(autograd_of(theta), theta, None, {0: theta}, {0: clean})
    torch.testing.assert_close(g, torch.tensor([[3.0, 3.75], [-0.125, 1.0]]))


def test_grad_norm_zero_where_the_intermediate_term_has_no_gradient():
    theta = torch.tensor([[1.0, 0.0], [0.0, 2.0]], requires_grad=True)
    a = torch.tensor([[3.0, 4.0], [0.0, 1.0]])
    slim = SLIM([0], lambda_min=1.0, lambda_max=1.0, base=Linear(a), balance="grad_norm")
    slim.begin_step()
    # at the clean point L_ILL's gradient is 0: no direction to scale up, the step is the output's
    (g,) = slim.ascent_gradients(autograd_of(theta), theta, None, {0: theta}, {0: theta.detach().clone()})
    torch.testing.assert_close(g, a)


class Recording:
    """Wraps an adversary's ``gradients_of`` and keeps every call's losses count and gradients."""

    def __init__(self, adversary):
        self.calls = []
        original = adversary.gradients_of

        def gradients_of(losses, params):
            grads = original(losses, params)
            self.calls.append(grads)
            return grads

        adversary.gradients_of = gradients_of


@pytest.mark.parametrize("adversary", list(ADVERSARIES))
def test_grad_norm_gives_the_two_terms_equal_gradient_norms_at_each_step(adversary, monkeypatch):
    model, (x, y) = make_model(), make_batch()
    adv = ADVERSARIES[adversary](steps=2)
    # taps past FeatAdvStyle's stages (an earlier tap does not depend on its parameters: zero gradient)
    slim = SLIM([3, 4], lambda_min=0.3, lambda_max=0.3, seed=1, base=OutputLoss(), balance="grad_norm")
    steps = []
    original = slim.ascent_gradients

    def ascent_gradients(gradients_of, *args):
        calls = []

        def recorded(losses):
            calls.append(gradients_of(losses))
            return calls[-1]

        steps.append((original(recorded, *args), calls))
        return steps[-1][0]

    monkeypatch.setattr(slim, "ascent_gradients", ascent_gradients)
    taps = model(x, taps=ALL_TAPS)[1]
    perturb_seeded(adv, model, x, y, slim, {k: v.detach() for k, v in taps.items()})
    assert len(steps) == 2
    for step, calls in steps:
        assert len(calls) == 1  # one call with both losses: exactly one extra backward
        g_out, g_ill = calls[0]
        pushed = per_sample_norm([s - o for s, o in zip(step, g_out)])  # = 0.3 · scale · ‖g_ill‖ per sample
        assert per_sample_norm(g_ill).min() > 0 and not torch.allclose(per_sample_norm(g_ill), per_sample_norm(g_out))
        torch.testing.assert_close(pushed, 0.3 * per_sample_norm(g_out), rtol=1e-4, atol=1e-12)


@pytest.mark.parametrize("adversary", list(ADVERSARIES))
def test_lambda_zero_with_grad_norm_is_the_plain_method_with_one_backward(adversary):
    model, (x, y) = make_model(), make_batch()
    taps = {k: v.detach() for k, v in model(x, taps=ALL_TAPS)[1].items()}
    plain = perturb_seeded(ADVERSARIES[adversary](), model, x, y, OutputLoss())
    adv = ADVERSARIES[adversary]()
    record = Recording(adv)
    zero = SLIM(ALL_TAPS, lambda_min=0.0, lambda_max=0.0, seed=1, balance="grad_norm")
    same = perturb_seeded(adv, model, x, y, zero, taps)
    assert all(torch.equal(a, b) for a, b in zip(plain, same))
    assert record.calls and all(len(grads) == 1 for grads in record.calls)  # no second backward at λ = 0
    # not vacuous: λ ≠ 0 balanced moves the adversary elsewhere
    other = SLIM(ALL_TAPS, lambda_min=0.5, lambda_max=1.0, seed=1, balance="grad_norm")
    moved = perturb_seeded(ADVERSARIES[adversary](), model, x, y, other, taps)
    assert any(not torch.equal(a, b) for a, b in zip(plain, moved))


@pytest.mark.parametrize("adversary", list(ADVERSARIES))
def test_grad_norm_under_float16_loss_scaling_is_exact_and_skips_overflows(adversary):
    model, (x, y) = make_model(), make_batch()
    taps = {k: v.detach() for k, v in model(x, taps=ALL_TAPS)[1].items()}

    def slim():
        return SLIM(ALL_TAPS, lambda_min=0.5, lambda_max=1.0, seed=1, balance="grad_norm")

    unscaled = perturb_seeded(ADVERSARIES[adversary](), model, x, y, slim(), taps)
    scaled_adv = ADVERSARIES[adversary]()
    scaled_adv.grad_scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 16)  # a power of two: exact
    assert all(torch.equal(a, b) for a, b in zip(unscaled, perturb_seeded(scaled_adv, model, x, y, slim(), taps)))
    overflow = ADVERSARIES[adversary](steps=1)
    overflow.grad_scaler = torch.amp.GradScaler("cpu", init_scale=float("inf"))
    start = perturb_seeded(ADVERSARIES[adversary](steps=0), model, x, y, slim(), taps)
    assert all(torch.equal(a, b) for a, b in zip(start, perturb_seeded(overflow, model, x, y, slim(), taps)))
    assert int(overflow.overflowed_steps) == 1  # both backwards overflowed, counted once


def test_unknown_balance_lists_the_valid_ones():
    with pytest.raises(ValueError, match="none, grad_norm"):
        SLIM(ALL_TAPS, balance="norm")
