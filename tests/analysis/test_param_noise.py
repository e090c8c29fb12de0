import torch

from slim_dg.analysis.param_noise import add_relative_noise, noise_curve
from slim_dg.evaluation import evaluate_domains


def _loaders(x, y):
    return {"a": [{"img": x[:128], "label": y[:128]}], "b": [{"img": x[128:], "label": y[128:]}]}


def test_zero_noise_reproduces_the_clean_accuracy_exactly(trained_digits_model):
    model, x, y = trained_digits_model
    loaders = _loaders(x, y)
    clean = evaluate_domains(model, loaders, torch.device("cpu"))
    curve = noise_curve(model, loaders, [0.0], draws=3)
    assert curve[0]["draws"] == 1
    for d in loaders:
        assert curve[0]["domains"][d]["accuracy"] == clean[d]["accuracy"]


def test_noise_costs_accuracy_and_leaves_the_model_untouched(trained_digits_model):
    model, x, y = trained_digits_model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    curve = noise_curve(model, _loaders(x, y), [0.0, 0.5], draws=2, seed=3)
    for d in ("a", "b"):
        assert curve[1]["domains"][d]["accuracy"] < curve[0]["domains"][d]["accuracy"] - 10
        assert len(curve[1]["domains"][d]["runs"]) == 2
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_noise_scale_is_relative_to_each_tensor():
    big, small = torch.nn.Parameter(torch.full((1000,), 100.0)), torch.nn.Parameter(torch.full((1000,), 0.01))
    module = torch.nn.Module()
    module.big, module.small = big, small
    add_relative_noise(module, 0.1, torch.Generator().manual_seed(0))
    assert abs((big - 100).std().item() - 10) < 1  # sigma * rms
    assert abs((small - 0.01).std().item() - 0.001) < 1e-4
