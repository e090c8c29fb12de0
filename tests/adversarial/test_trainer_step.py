"""Trainer level (DESIGN §1-§2): the real ``AdversarialTrainer.__init__``/``compute_losses`` and
``DGTrainer.run_step``, with only the data/model/optimizer building of ``DGTrainer`` overridden
(``trainer_testutils.without_data``), so no dataset is needed."""
from __future__ import annotations

import pytest
import torch

from slim_dg.adversarial.objectives import OutputLoss
from slim_dg.adversarial.slim import SLIM
from slim_dg.config.defaults import get_cfg_defaults
from slim_dg.engine import adversarial as adv_trainers

from adv_testutils import MEAN, STD, make_batch, make_model, record_forwards, run_steps
from grid_testutils import first_fast
from trainer_testutils import without_data

STEPS = 2
PAIRS = {  # adversary -> (plain trainer, SLIM trainer, random start)
    "advstyle": (adv_trainers.AdvStyle, adv_trainers.AdvStyleSLIM, 0.1),
    "pgd": (adv_trainers.PGD, adv_trainers.PGDSLIM, 1.0),
    "feat_advstyle": (adv_trainers.FeatAdvStyle, adv_trainers.FeatAdvStyleSLIM, 0.1),
}
SETTINGS = [("train", "clean+adv"), ("eval", "clean+adv"), ("train", "adv")]


def make_cfg(adversary, *, bn_mode="train", train_on="clean+adv", lam=(0.0, 0.0), random_start=None,
             steps=STEPS, balance="none"):
    cfg = get_cfg_defaults()
    cfg.defrost()
    cfg.INPUT.PIXEL_MEAN, cfg.INPUT.PIXEL_STD = list(MEAN), list(STD)
    cfg.ADV.STEPS = steps
    cfg.ADV.RANDOM_START = PAIRS[adversary][2] if random_start is None else random_start
    cfg.ADV.BN_MODE = bn_mode
    cfg.ADV.TRAIN_ON = train_on
    cfg.SLIM.LAMBDA_MIN, cfg.SLIM.LAMBDA_MAX = lam
    cfg.SLIM.BALANCE = balance
    cfg.SEED = 3
    cfg.USE_CUDA = False
    cfg.freeze()
    return cfg


def build(adversary, slim, **kw):
    return without_data(PAIRS[adversary][1 if slim else 0], make_model)(make_cfg(adversary, **kw))


def assert_same_state(a, b):
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def test_trainers_are_wired():
    t = build("pgd", slim=True)
    assert isinstance(t.objective, SLIM) and t.objective.layers == [0, 1, 2, 3, 4]
    assert t.adversary.steps == STEPS and t.adversary.random_start == 1.0
    assert t.train_on_clean and t.reuse_clean_taps
    assert type(build("pgd", slim=False).objective) is OutputLoss  # the CE itself, not SLIM wrapping it
    assert not build("pgd", slim=True, bn_mode="eval").reuse_clean_taps
    assert not build("pgd", slim=True, train_on="adv").reuse_clean_taps


@pytest.mark.parametrize("balance", ["none", "grad_norm"])
@pytest.mark.parametrize("adversary", list(PAIRS))
@pytest.mark.parametrize("bn_mode,train_on", first_fast(SETTINGS))
def test_lambda_zero_training_step_bit_identical(adversary, bn_mode, train_on, balance):
    plain = build(adversary, slim=False, bn_mode=bn_mode, train_on=train_on)
    slim = build(adversary, slim=True, bn_mode=bn_mode, train_on=train_on, lam=(0.0, 0.0), balance=balance)
    assert slim.objective.balance == balance
    assert_same_state(plain, slim)  # same start
    lp, ls = run_steps(plain), run_steps(slim)
    for a, b in zip(lp, ls):
        assert torch.equal(a["loss"], b["loss"])
    assert_same_state(plain, slim)
    # the check is not vacuous: the weights did move, and λ ≠ 0 moves them elsewhere
    fresh = make_model().state_dict()
    assert any(not torch.equal(v, fresh[k]) for k, v in plain.model.state_dict().items())
    other = build(adversary, slim=True, bn_mode=bn_mode, train_on=train_on, lam=(0.5, 1.0), balance=balance)
    run_steps(other)
    so = other.model.state_dict()
    assert any(not torch.equal(v, so[k]) for k, v in plain.model.state_dict().items() if v.is_floating_point())


@pytest.mark.parametrize("adversary", ["advstyle", "feat_advstyle"])
def test_losses_keys_and_no_gradient_leak_from_inner_loop(adversary):
    t = build(adversary, slim=True, lam=(-1.0, 1.0))
    x, y = make_batch()
    torch.manual_seed(0)
    losses = t.compute_losses({"img": x, "label": y})
    assert list(losses) == ["ce"] and losses["ce"].requires_grad
    assert all(p.grad is None for p in t.model.parameters())  # only the final loss will backprop
    t_adv = build(adversary, slim=True, train_on="adv")
    assert list(t_adv.compute_losses({"img": x, "label": y})) == ["ce_adv"]


@pytest.mark.parametrize("adversary", list(PAIRS))
@pytest.mark.parametrize("bn_mode,train_on", first_fast(SETTINGS))
def test_forward_count_per_step(adversary, bn_mode, train_on):
    counts = {}
    for slim in (False, True):
        t = build(adversary, slim=slim, bn_mode=bn_mode, train_on=train_on, lam=(-1.0, 1.0))
        calls = record_forwards(t.model)
        run_steps(t, n=1)
        counts[slim] = len(calls)
    clean = 1 if train_on == "clean+adv" else 0
    assert counts[False] == clean + STEPS + 1  # clean, inner loop, adversarial training pass
    if bn_mode == "train" and train_on == "clean+adv":
        assert counts[True] == counts[False]  # clean taps come from the training pass
    else:
        assert counts[True] == counts[False] + 1  # clean taps recomputed in the adversary's mode


@pytest.mark.parametrize("bn_mode,train_on", first_fast(SETTINGS))
def test_clean_and_adversarial_taps_in_the_same_mode(bn_mode, train_on):
    """Without random start PGD's first adversarial pass is at x̃ = x, so its taps must equal the
    clean taps handed to SLIM; taps from a pass in another BN mode would not."""

    class Recording(SLIM):
        seen: list = []

        def __call__(self, logits, y, adv_taps=None, clean_taps=None):
            self.seen.append((adv_taps[self.layer].detach().clone(), clean_taps[self.layer].clone()))
            return super().__call__(logits, y, adv_taps, clean_taps)

    t = build("pgd", slim=True, bn_mode=bn_mode, train_on=train_on, random_start=0.0, lam=(0.5, 1.0))
    t.objective = Recording(t.objective.layers, lambda_min=0.5, lambda_max=1.0, seed=0)
    calls = record_forwards(t.model)
    run_steps(t, n=1)
    h_adv, h_clean = t.objective.seen[0]
    assert not h_clean.requires_grad
    torch.testing.assert_close(h_adv, h_clean, rtol=1e-5, atol=1e-5)
    # every pass that reads taps runs in the adversary's mode
    want = bn_mode == "train"
    tapped = [training for _, training, taps in calls if taps]
    assert tapped and all(training == want for training in tapped)
    assert t.model.training
