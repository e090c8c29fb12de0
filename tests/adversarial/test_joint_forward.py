"""``ADV.JOINT_FORWARD``: clean and adversarial images go through one training forward of
``cat([x, x̃])`` (one BN batch) instead of two; nothing else about the step changes."""
from __future__ import annotations

import pytest
import torch

from slim_dg.adversarial.objectives import OutputLoss
from slim_dg.adversarial.slim import SLIM
from slim_dg.adversarial.step import adversarial_losses

from adv_testutils import ADVERSARIES, ALL_TAPS, make_batch, make_model, record_forwards


def _losses(model, name, objective, joint, seed=5):
    x, y = make_batch()
    adversary = ADVERSARIES[name](steps=2)
    torch.manual_seed(seed)
    return adversarial_losses(model, adversary, objective, x, y, train_on_clean=True, reuse_clean_taps=True,
                              joint_forward=joint)


@pytest.mark.parametrize("name", list(ADVERSARIES))
def test_one_training_forward_of_twice_the_batch(name):
    for objective, extra in ((OutputLoss(), 0), (SLIM(ALL_TAPS, seed=1), 1)):
        model = make_model()
        calls = record_forwards(model)
        losses = _losses(model, name, objective, joint=True)
        assert list(losses) == ["ce"] and losses["ce"].requires_grad
        b = make_batch()[0].shape[0]
        # SLIM: one clean-taps pass (no training pass precedes the inner loop), 2 inner steps, 1 joint pass
        assert [n for n, _, _ in calls] == [b] * (extra + 2) + [2 * b]
        assert calls[-1][2] is None and calls[-1][1]  # the training pass: train mode, no taps
        assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("name", list(ADVERSARIES))
@pytest.mark.parametrize("slim", [False, True])
def test_joint_equals_separate_when_bn_does_not_see_the_batch(name, slim):
    """In eval mode a sample's logits do not depend on its batch: then one forward of cat([x, x̃]) and
    two forwards give the same loss, so the option changes BN batching and nothing else."""
    out = {}
    for joint in (False, True):
        model = make_model().eval()
        objective = SLIM(ALL_TAPS, seed=1) if slim else OutputLoss()
        out[joint] = _losses(model, name, objective, joint)["ce"]
    torch.testing.assert_close(out[True], out[False], rtol=1e-5, atol=1e-6)


def test_joint_forward_updates_bn_statistics_once_per_step():
    counts = {}
    for joint in (False, True):
        model = make_model()
        bn = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
        _losses(model, "advstyle", OutputLoss(), joint)
        counts[joint] = int(bn.num_batches_tracked)
    assert counts == {False: 2, True: 1}


def test_feature_adversary_leaves_the_clean_half_unperturbed():
    model = make_model().eval()
    x, _ = make_batch()
    adversary = ADVERSARIES["feat_advstyle"](random_start=0.5)
    torch.manual_seed(0)
    params = [p.detach() for p in adversary.init_params(model, x)]
    with torch.no_grad():
        joint = adversary.joint_forward(model, x, params)
        torch.testing.assert_close(joint[: len(x)], model(x), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(joint[len(x):], adversary.forward(model, x, params), rtol=1e-5, atol=1e-6)
        assert not torch.allclose(joint[: len(x)], joint[len(x):], atol=1e-3)
