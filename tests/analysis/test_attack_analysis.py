import pytest
import torch

from slim_dg.analysis.attacks import Attacker, robustness

pytest.importorskip("torchattacks")
EPS = 8 / 255


def _loader(x, y):
    return [{"img": x[i:i + 64], "label": y[i:i + 64]} for i in range(0, 128, 64)]


def test_pgd_ce_lowers_the_accuracy_of_a_trained_model(trained_digits_model):
    model, x, y = trained_digits_model
    attacker = Attacker(model, (0.5,) * 3, (0.5,) * 3, eps=EPS, steps=10, step_size=2 / 255)
    r = robustness(attacker, _loader(x, y), "cpu", attacks=("fgsm", "pgd_ce"))
    assert r["num_samples"] == 128 and r["clean"]["accuracy"] > 90
    assert r["pgd_ce"]["accuracy"] < r["clean"]["accuracy"] - 20
    noise = (x + (torch.rand_like(x) * 2 - 1) * EPS / 0.5).clamp(-1, 1)  # same budget, random direction
    with torch.no_grad():
        noisy_acc = 100 * (model(noise[:128]).argmax(1) == y[:128]).float().mean().item()
    assert r["pgd_ce"]["accuracy"] < noisy_acc - 15 and r["fgsm"]["accuracy"] < noisy_acc - 15


@pytest.mark.parametrize("name", ["fgsm", "pgd_ce", "pgd_cs"])
def test_attacks_stay_in_the_eps_ball_and_the_pixel_range(trained_digits_model, name):
    model, x, y = trained_digits_model
    attacker = Attacker(model, (0.5,) * 3, (0.5,) * 3, eps=EPS, steps=3, step_size=2 / 255)
    x_adv = attacker.attack(name, x[:32], y[:32])
    px, px_adv = x[:32] * 0.5 + 0.5, x_adv * 0.5 + 0.5
    assert (px_adv - px).abs().max().item() <= EPS + 1e-5
    assert px_adv.min().item() >= -1e-6 and px_adv.max().item() <= 1 + 1e-6
    assert (px_adv - px).abs().max().item() > EPS / 2  # it did move


def test_pgd_cs_lowers_the_tap_cosine(trained_digits_model):
    model, x, y = trained_digits_model
    attacker = Attacker(model, (0.5,) * 3, (0.5,) * 3, eps=EPS, steps=10, step_size=2 / 255, tap="layer3")
    x_adv = attacker.attack("pgd_cs", x[:64], y[:64])
    cos = attacker.tap_cosine(x[:64], x_adv)
    noise = (x[:64] + (torch.rand_like(x[:64]) * 2 - 1) * EPS / 0.5).clamp(-1, 1)  # same budget, random
    assert cos.mean() < attacker.tap_cosine(x[:64], noise).mean() - 0.05
    assert attacker.tap_cosine(x[:64], x[:64]).min() > 0.999
