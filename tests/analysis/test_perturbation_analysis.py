import pytest
import torch

from slim_dg.adversarial.advstyle import AdvStyle
from slim_dg.adversarial.objectives import OutputLoss
from slim_dg.adversarial.pgd import PGD
from slim_dg.adversarial.slim import SLIM
from slim_dg.analysis.gradients import gradient_diversity, mean_pairwise_cosine
from slim_dg.analysis.perturbation import feature_change, perturbation_profile


def _advstyle():
    return AdvStyle(lr=30.0, steps=2, random_start=0.1)


def test_unperturbed_features_have_zero_change(trained_digits_model):
    model, x, _ = trained_digits_model
    r = feature_change(model, x[:16], x[:16].clone(), [0, 2, 4])
    for t in (0, 2, 4):
        assert r[t]["relative_change"] == 0 and r[t]["cosine"] == pytest.approx(1, abs=1e-6)


@pytest.mark.parametrize("adversary", [_advstyle, lambda: PGD(8 / 255, 3, 2 / 255, random_start=1.0)])
def test_slim_with_lambda_zero_gives_the_plain_curve(trained_digits_model, adversary):
    model, x, y = trained_digits_model
    x, y = x[:32], y[:32]
    plain = perturbation_profile(model, adversary(), OutputLoss(), x, y, seed=5)
    zero = perturbation_profile(model, adversary(), SLIM([0, 1, 2, 3, 4], lambda_min=0, lambda_max=0), x, y, seed=5)
    assert zero == plain
    slim = perturbation_profile(model, adversary(), SLIM([1, 2, 3, 4], lambda_min=-1, lambda_max=1, seed=1), x, y,
                                seed=5)
    assert slim != plain
    assert plain[4]["relative_change"] > 0


def test_profile_does_not_change_the_model(trained_digits_model):
    model, x, y = trained_digits_model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    perturbation_profile(model, _advstyle(), SLIM([1, 2, 3]), x[:32], y[:32])
    assert not model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # BN stats too


def test_mean_pairwise_cosine():
    same = torch.ones(4, 2, 3)  # 4 draws, 2 samples: identical directions
    assert torch.allclose(mean_pairwise_cosine(same), torch.ones(2))
    opposite = torch.tensor([[[1.0, 0.0]], [[-1.0, 0.0]]])
    assert torch.allclose(mean_pairwise_cosine(opposite), torch.tensor([-1.0]))


def test_gradient_diversity_with_lambda_zero_equals_plain(trained_digits_model):
    model, x, y = trained_digits_model
    r = gradient_diversity(model, _advstyle(), OutputLoss(), SLIM([0, 2, 4], lambda_min=0, lambda_max=0),
                           x[:16], y[:16], draws=4)
    assert r["cos_to_plain"] == pytest.approx(1, abs=1e-5)
    assert r["slim_pairwise_cosine"] == pytest.approx(r["plain_pairwise_cosine"], abs=1e-5)
    r = gradient_diversity(model, _advstyle(), OutputLoss(), SLIM([0, 2, 4], lambda_min=-5, lambda_max=5, seed=2),
                           x[:16], y[:16], draws=4)
    assert r["cos_to_plain"] < 0.999 and len(r["slim_layers_drawn"]) == 4


@pytest.mark.parametrize("sample_per", ["step", "batch"])
def test_gradient_diversity_per_tap_fixes_the_layer(trained_digits_model, sample_per):
    model, x, y = trained_digits_model
    slim = SLIM([0, 2, 4], lambda_min=2, lambda_max=5, seed=2, sample_per=sample_per)
    r = gradient_diversity(model, _advstyle(), OutputLoss(), slim, x[:16], y[:16], draws=3)
    assert set(r["per_tap"]) == {0, 2, 4}
    # each tap its own direction (with SAMPLE_PER batch no step re-draws the layer: it must be set)
    assert len({v["cos_to_plain"] for v in r["per_tap"].values()}) == 3
