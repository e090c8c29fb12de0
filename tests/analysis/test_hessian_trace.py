"""Hutchinson's estimator against the exact Hessian trace of a small model (torch.func)."""
import torch
from torch import nn
from torch.func import functional_call, hessian

from slim_dg.analysis.hessian import hutchinson_trace, stage_parameter_groups
from slim_dg.modeling.backbone import create_timm_backbone
from slim_dg.modeling.classifier import Classifier


def _small_problem():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))
    x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    return model, x, y


def _exact_traces(model, x, y) -> dict[str, float]:
    """Per layer (0 and 2 of the Sequential), the exact trace of that layer's Hessian block."""
    names = [n for n, _ in model.named_parameters()]
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    shapes = [p.shape for p in model.parameters()]

    def loss(theta):
        params, i = {}, 0
        for n, s in zip(names, shapes):
            params[n] = theta[i:i + s.numel()].view(s)
            i += s.numel()
        return nn.functional.cross_entropy(functional_call(model, params, (x,)), y)

    diag = hessian(loss)(flat).diagonal()
    out, i = {}, 0
    for n, s in zip(names, shapes):
        layer = n.split(".")[0]
        out[layer] = out.get(layer, 0.0) + diag[i:i + s.numel()].sum().item()
        i += s.numel()
    return out


def test_estimate_matches_the_exact_block_traces_within_its_standard_error():
    model, x, y = _small_problem()
    exact = _exact_traces(model, x, y)
    groups = {"0": list(model[0].parameters()), "2": list(model[2].parameters())}
    est = hutchinson_trace(lambda: nn.functional.cross_entropy(model(x), y), groups, samples=400, seed=1)
    for layer, value in exact.items():
        assert est[layer]["stderr"] > 0
        assert abs(est[layer]["trace"] - value) < 4 * est[layer]["stderr"], (layer, est[layer], value)
    # and the estimator is informative: the two blocks differ and are told apart
    assert abs(exact["0"] - exact["2"]) > 4 * (est["0"]["stderr"] + est["2"]["stderr"])


def test_more_samples_shrink_the_standard_error():
    model, x, y = _small_problem()
    groups = {"all": list(model.parameters())}
    fn = lambda: nn.functional.cross_entropy(model(x), y)  # noqa: E731
    few, many = hutchinson_trace(fn, groups, 25, seed=0), hutchinson_trace(fn, groups, 400, seed=0)
    assert many["all"]["stderr"] < few["all"]["stderr"]


def test_stage_groups_partition_the_parameters():
    model = Classifier(create_timm_backbone("test_resnet", img_size=(32, 32)), 10)
    groups = stage_parameter_groups(model)
    ids = [id(p) for ps in groups.values() for p in ps]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    assert {"layer1", "layer4", "head", "other"} <= set(groups)  # act1 has no parameters: no group
