import pytest
import torch

from slim_dg.analysis.attacks import attack_name, build_attacks, column, robustness, tap_cosine

pytest.importorskip("torchattacks")
EPS = 8 / 255
MEAN = STD = (0.5,) * 3


def _loader(x, y):
    return [{"img": x[i:i + 64], "label": y[i:i + 64]} for i in range(0, 128, 64)]


def _attacks(model, names, steps, tap=-1):
    return build_attacks(model, MEAN, STD, 10, names, eps=EPS, steps=steps, step_size=2 / 255, tap=tap)


def test_pgd_lowers_the_accuracy_of_a_trained_model(trained_digits_model):
    model, x, y = trained_digits_model
    tap = model.backbone.tap_index(-1)
    r = robustness(model, _attacks(model, ["fgsm", "pgd"], 10), _loader(x, y), "cpu", tap)
    assert r["num_samples"] == 128 and r["clean"]["accuracy"] > 90
    assert r["pgd"]["accuracy"] < r["clean"]["accuracy"] - 20
    noise = (x + (torch.rand_like(x) * 2 - 1) * EPS / 0.5).clamp(-1, 1)  # same budget, random direction
    with torch.no_grad():
        noisy_acc = 100 * (model(noise[:128]).argmax(1) == y[:128]).float().mean().item()
    assert r["pgd"]["accuracy"] < noisy_acc - 15 and r["fgsm"]["accuracy"] < noisy_acc - 15
    assert 0 < r["pgd"]["tap_cosine"] < 1


@pytest.mark.parametrize("name", ["fgsm", "pgd", "cw", "pgd_cs"])
def test_attacks_stay_in_the_eps_ball_and_the_pixel_range(trained_digits_model, name):
    model, x, y = trained_digits_model
    x_adv = _attacks(model, [name], 3)[name](x[:32], y[:32])
    px, px_adv = x[:32] * 0.5 + 0.5, x_adv * 0.5 + 0.5
    assert (px_adv - px).abs().max().item() <= EPS + 1e-5
    assert px_adv.min().item() >= -1e-6 and px_adv.max().item() <= 1 + 1e-6
    assert (px_adv - px).abs().max().item() > EPS / 2  # it did move


def test_pgd_cs_lowers_the_tap_cosine(trained_digits_model):
    model, x, y = trained_digits_model
    tap = model.backbone.tap_index("layer3")
    x_adv = _attacks(model, ["pgd_cs"], 10, tap="layer3")["pgd_cs"](x[:64], y[:64])
    cos = tap_cosine(model, tap, x[:64], x_adv)
    noise = (x[:64] + (torch.rand_like(x[:64]) * 2 - 1) * EPS / 0.5).clamp(-1, 1)  # same budget, random
    assert cos.mean() < tap_cosine(model, tap, x[:64], noise).mean() - 0.05
    assert tap_cosine(model, tap, x[:64], x[:64]).min() > 0.999


def test_one_table_of_attack_names_with_the_earlier_names_accepted():
    assert attack_name("pgd20") == attack_name("pgd_ce") == attack_name("pgd") == "pgd"
    assert column("pgd", 10) == "PGD-10" and column("pgd", 20) == "PGD-20"  # named by its steps
    with pytest.raises(KeyError, match=r"Unknown attack 'pgd2'; did you mean 'pgd'\? Available: fgsm, pgd, cw"):
        attack_name("pgd2")
