"""The gradient-diversity analysis measures directions where the adversary moves (its own parameters;
PGD's signed step), records ``cos_to_plain``, and analysing a model never changes it."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from slim_dg.adversarial.advstyle import AdvStyle, style_of
from slim_dg.adversarial.feat_advstyle import FeatAdvStyle
from slim_dg.adversarial.objectives import OutputLoss
from slim_dg.adversarial.pgd import PGD
from slim_dg.adversarial.slim import SLIM
from slim_dg.analysis.gradients import gradient_diversity
from slim_dg.analysis.perturbation import perturbation_profile

STD = 0.5  # the adversaries' default pixel std


class InputTap(nn.Module):
    """A linear classifier whose tap 0 is its input, so an objective can add a known function of x̃."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(3 * 8 * 8, 5)

    def forward(self, x, taps=None):
        logits = self.linear(x.flatten(1))
        return logits if taps is None else (logits, {0: x})


class PlusLinear(SLIM):
    """SLIM's bookkeeping with λ ≡ 0, plus ``scale·CE + <x̃, v>``: a known change of the objective."""

    def __init__(self, v, scale=1.0):
        super().__init__([0], lambda_min=0.0, lambda_max=0.0)
        self.v, self.scale = v, scale

    def __call__(self, logits, y, adv_taps=None, clean_taps=None):
        return self.scale * super().__call__(logits, y, adv_taps, clean_taps) + (adv_taps[0] * self.v).sum()


def _batch(seed=1, b=4):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 3, 8, 8, generator=g), torch.randint(0, 5, (b,), generator=g)


def _input_grad(model, x, y):
    x = x.clone().requires_grad_()
    return torch.autograd.grad(F.cross_entropy(model(x), y), x)[0]


def test_pgd_direction_is_the_signed_step():
    g1 = torch.tensor([[3.0, -1.0, 0.1, 2.0]])
    g2 = torch.tensor([[0.01, -5.0, 7.0, 0.5]])  # the same signs, a different input-space direction
    pgd = PGD()
    assert torch.equal(pgd.ascent_direction([g1]), torch.tensor([[1.0, -1.0, 1.0, 1.0]]))
    assert F.cosine_similarity(g1, g2).item() < 0.3
    assert F.cosine_similarity(pgd.ascent_direction([g1]), pgd.ascent_direction([g2])).item() == 1.0


def test_pgd_cos_to_plain_known_answers():
    """From δ = 0 (no random start), adding c·sign(g) to the δ-gradient g keeps every sign: the signed
    steps agree (cos 1) though the gradients differ; subtracting more than |g| flips every sign (cos -1)."""
    model, (x, y) = InputTap(), _batch()
    g = _input_grad(model, x, y) / STD  # the gradient wrt δ (pixel units) at δ = 0
    assert (g != 0).all()
    c = g.abs().max().item() * 3
    pgd = PGD(eps=8 / 255, steps=1, random_start=0.0, clamp=False)
    same = gradient_diversity(model, pgd, OutputLoss(), PlusLinear(c * g.sign() * STD), x, y, draws=2)
    assert same["cos_to_plain"] == pytest.approx(1.0, abs=1e-6)
    assert F.cosine_similarity(g.flatten(1), (g + c * g.sign()).flatten(1)).mean() < 0.99  # input space differs
    flipped = gradient_diversity(model, pgd, OutputLoss(), PlusLinear(-c * g.sign() * STD), x, y, draws=2)
    assert flipped["cos_to_plain"] == pytest.approx(-1.0, abs=1e-6)
    assert "sign" in same["space"]


def test_advstyle_direction_is_in_style_space():
    """A term <x̃, v> with v orthogonal to AdvStyle's style space (zero mean and zero correlation with the
    normalised image in every channel) changes the input gradient but not the (μ′, σ′) gradient: cos 1.
    A negated objective points the other way: cos -1."""
    model, (x, y) = InputTap(), _batch()
    mu, sigma = style_of(x)
    n = (x - mu) / sigma
    v = torch.randn(x.shape, generator=torch.Generator().manual_seed(7))
    v = v - v.mean(dim=(2, 3), keepdim=True)
    v = v - (v * n).sum(dim=(2, 3), keepdim=True) / (n * n).sum(dim=(2, 3), keepdim=True) * n
    v = v * 10  # far larger than the CE's input gradient
    adv = AdvStyle(lr=1.0, steps=1, random_start=0.1, clamp=False)
    r = gradient_diversity(model, adv, OutputLoss(), PlusLinear(v), x, y, draws=3)
    assert r["cos_to_plain"] == pytest.approx(1.0, abs=1e-4)
    g = _input_grad(model, x, y)
    assert F.cosine_similarity(g.flatten(1), (g + v).flatten(1)).mean() < 0.5  # input space: far apart
    r = gradient_diversity(model, adv, OutputLoss(), PlusLinear(torch.zeros_like(x), scale=-2.0), x, y, draws=3)
    assert r["cos_to_plain"] == pytest.approx(-1.0, abs=1e-5)
    assert r["plain_pairwise_cosine"] < 1.0  # the random starts differ, so do the directions


def test_feature_adversaries_are_measured_too(trained_digits_model):
    model, x, y = trained_digits_model
    adv = FeatAdvStyle(stages=[1, 2], channels=[model.backbone.feature_info[s]["num_chs"] for s in (1, 2)],
                       random_start=0.1)
    r = gradient_diversity(model, adv, OutputLoss(), SLIM([0, 2, 4], lambda_min=0, lambda_max=0), x[:8], y[:8],
                           draws=3)
    assert r["cos_to_plain"] == pytest.approx(1.0, abs=1e-5)
    assert "adversary's parameters" in r["space"]


def _analyses(model, x, y):
    feat = FeatAdvStyle(stages=[1], channels=[model.backbone.feature_info[1]["num_chs"]], random_start=0.1,
                        update_bn=True)
    for adversary in (AdvStyle(lr=30.0, steps=2, random_start=0.1, update_bn=True),
                      PGD(8 / 255, 2, 2 / 255, random_start=1.0, update_bn=True)):
        perturbation_profile(model, adversary, SLIM([1, 2, 3], seed=1), x, y)
        gradient_diversity(model, adversary, OutputLoss(), SLIM([1, 2, 3], seed=1), x, y, draws=2)
    gradient_diversity(model, feat, OutputLoss(), SLIM([1, 2, 3], seed=1), x, y, draws=2)


@pytest.mark.parametrize("training", [False, True])
def test_analyses_never_change_the_model_even_with_update_bn(trained_digits_model, training):
    """A run trained with ADV.UPDATE_BN True: its adversary's passes would move the BN running
    statistics; the analyses must not."""
    model, x, y = trained_digits_model
    model.train(training)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    try:
        _analyses(model, x[:16], y[:16])
        assert model.training == training
        for k, v in model.state_dict().items():
            assert torch.equal(before[k], v), k  # weights, running statistics, num_batches_tracked
    finally:
        model.load_state_dict(before)
        model.eval()
