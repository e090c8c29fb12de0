"""DESIGN §1, λ ≡ 0: every SLIM trainer reproduces its plain trainer bit for bit (adversarial samples,
losses, weights and BN running statistics) in every ``ADV.BN_MODE`` × ``ADV.UPDATE_BN`` ×
``ADV.TRAIN_ON`` (× ``ADV.JOINT_FORWARD``) combination.

The model has stochastic depth, so a clean pass that drew from the random stream would shift the
next random start, and BN layers, so a clean pass that updated running statistics would show in the
state dict: the two ways SLIM's extra clean pass used to leak into training.
"""
from __future__ import annotations

import copy
import functools
import itertools

import pytest
import torch

from slim_dg.adversarial.base import Adversary
from slim_dg.config.defaults import get_cfg_defaults
from slim_dg.engine import adversarial as adv_trainers
from slim_dg.engine import robust as robust_trainers
from slim_dg.modeling.backbone import create_timm_backbone
from slim_dg.modeling.classifier import Classifier

from adv_testutils import MEAN, STD, make_batch
from trainer_testutils import without_data

PAIRS = {  # SLIM trainer -> (plain trainer, random start)
    "AdvStyleSLIM": (adv_trainers.AdvStyle, 0.1),
    "PGDSLIM": (adv_trainers.PGD, 1.0),
    "FeatAdvStyleSLIM": (adv_trainers.FeatAdvStyle, 0.1),
    "PGDATSLIM": (robust_trainers.PGDAT, 1.0),
    "TRADESSLIM": (robust_trainers.TRADES, 1.0),
    "MARTSLIM": (robust_trainers.MART, 1.0),
}
ROBUST = {"PGDATSLIM", "TRADESSLIM", "MARTSLIM"}  # they fix what they train on: ADV.TRAIN_ON is not read
GRID = [(bn, upd, on, joint) for bn, upd, on, joint in itertools.product(
    ("train", "eval"), (False, True), ("clean+adv", "adv"), (False, True)) if not (joint and on == "adv")]
# the fast loop (-m "not slow") keeps three corners that between them take every value; CI runs the whole grid
FAST_CORNERS = {("train", True, "clean+adv", False), ("eval", False, "adv", False), ("eval", False, "clean+adv", True)}
assert FAST_CORNERS <= set(GRID)
GRID_PARAMS = [pytest.param(*c, marks=() if c in FAST_CORNERS else pytest.mark.slow) for c in GRID]


@functools.lru_cache(maxsize=None)
def _model() -> Classifier:
    torch.manual_seed(0)
    return Classifier(create_timm_backbone("test_resnet", img_size=(16, 16), drop_path_rate=0.2), 10)


def _fresh_model() -> Classifier:
    """A copy of the seeded model; its trainer has no data and a plain SGD (``without_data``)."""
    return copy.deepcopy(_model()).train()


@pytest.fixture
def samples(monkeypatch):
    """Every adversary's final parameters, as ``perturb`` returns them."""
    seen = []
    original = Adversary.perturb

    def perturb(self, *args, **kw):
        params = original(self, *args, **kw)
        seen.append([p.clone() for p in params])
        return params

    monkeypatch.setattr(Adversary, "perturb", perturb)
    return seen


def build(name, slim, *, bn_mode, update_bn, train_on, joint, lam=(0.0, 0.0)):
    cfg = get_cfg_defaults()
    cfg.INPUT.PIXEL_MEAN, cfg.INPUT.PIXEL_STD = list(MEAN), list(STD)
    cfg.ADV.STEPS, cfg.ADV.RANDOM_START = 2, PAIRS[name][1]
    cfg.ADV.BN_MODE, cfg.ADV.UPDATE_BN, cfg.ADV.TRAIN_ON, cfg.ADV.JOINT_FORWARD = bn_mode, update_bn, train_on, joint
    cfg.SLIM.LAMBDA_MIN, cfg.SLIM.LAMBDA_MAX = lam
    cfg.TEST.ROBUST_VAL_STEPS = 0
    cfg.SEED = 3
    cfg.USE_CUDA = False
    cfg.freeze()
    cls = PAIRS[name][0] if not slim else getattr(robust_trainers if name in ROBUST else adv_trainers, name)
    return without_data(cls, _fresh_model, weight_decay=0.0)(cfg)


def run_steps(trainer, n=2):
    losses = []
    for i in range(n):
        x, y = make_batch(seed=10 + i, b=4, size=16)
        torch.manual_seed(100 + i)  # the random starts and the stochastic depth
        losses.append(trainer.run_step({"img": x, "label": y}))
    return losses


def state(trainer) -> dict:
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


def assert_same(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("name", list(PAIRS))
@pytest.mark.parametrize("bn_mode,update_bn,train_on,joint", GRID_PARAMS)
def test_lambda_zero_is_the_plain_trainer_bit_for_bit(samples, name, bn_mode, update_bn, train_on,
                                                      joint):
    if name in ROBUST and (train_on == "adv" or joint):
        pytest.skip("the robust trainers do not read ADV.TRAIN_ON / ADV.JOINT_FORWARD")
    kw = dict(bn_mode=bn_mode, update_bn=update_bn, train_on=train_on, joint=joint)
    plain, slim = build(name, False, **kw), build(name, True, **kw)
    lp = run_steps(plain)
    adv_plain = list(samples)
    samples.clear()
    ls = run_steps(slim)
    assert len(adv_plain) == len(samples) == 2
    for a, b in zip(adv_plain, samples):
        for pa, pb in zip(a, b):
            assert torch.equal(pa, pb)  # the adversarial samples
    for a, b in zip(lp, ls):
        assert a == b  # the losses
    assert_same(state(plain), state(slim))  # weights and BN running statistics
    fresh = _model().state_dict()
    assert any(not torch.equal(v, fresh[k]) for k, v in plain.model.state_dict().items())  # not vacuous


@pytest.mark.parametrize("bn_mode,train_on", [("train", "adv"), ("eval", "clean+adv")])
def test_a_slim_step_with_lambda_nonzero_differs(samples, bn_mode, train_on):
    kw = dict(bn_mode=bn_mode, update_bn=True, train_on=train_on, joint=False)
    run_steps(build("PGDSLIM", False, **kw), n=1)
    run_steps(build("PGDSLIM", True, lam=(0.5, 1.0), **kw), n=1)
    assert not torch.equal(samples[0][0], samples[1][0])
