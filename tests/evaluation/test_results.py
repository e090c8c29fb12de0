import json

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from slim_dg.config import get_cfg_defaults
from slim_dg.evaluation import evaluate_domains, format_table, make_results, validate_results, write_results


class _Fixed(nn.Module):
    """Predicts class 0 always."""

    def forward(self, x):
        return torch.stack([torch.ones(len(x)), torch.zeros(len(x))], 1)


def _loader(labels):
    data = [{"img": torch.zeros(1), "label": y} for y in labels]
    return DataLoader(data, batch_size=3)


def test_each_domain_is_scored_on_its_own():
    res = evaluate_domains(_Fixed(), {"a": _loader([0, 0, 0, 1]), "b": _loader([1] * 6)}, torch.device("cpu"))
    assert res == {"a": {"accuracy": 75.0, "num_samples": 4}, "b": {"accuracy": 0.0, "num_samples": 6}}


def test_results_schema_round_trip(tmp_path):
    cfg = get_cfg_defaults()
    cfg.DATASET.SOURCE_DOMAINS, cfg.DATASET.TARGET_DOMAINS = ["mono"], ["color", "texture"]
    target = {"color": {"accuracy": 50.0, "num_samples": 4}, "texture": {"accuracy": 25.0, "num_samples": 8}}
    res = make_results(cfg, target, {"mono": {"accuracy": 90.0, "num_samples": 10}}, epoch=3)
    path = write_results(str(tmp_path), res)
    back = json.load(open(path))
    assert back == res
    assert set(back) == {"dataset", "trainer", "backbone", "seed", "source_domains", "target_domains",
                         "target", "source_val", "epoch"}
    assert "texture" in format_table(back) and "25.00" in format_table(back)


def test_pooled_or_malformed_results_are_rejected():
    cfg = get_cfg_defaults()
    cfg.DATASET.TARGET_DOMAINS = ["color", "texture"]
    pooled = make_results(cfg, {"all": {"accuracy": 50.0, "num_samples": 12}}, {}, 1)
    with pytest.raises(ValueError, match="expected each of"):
        validate_results(pooled)
    bad = make_results(cfg, {"color": {"accuracy": 0.5}, "texture": {"accuracy": 1.0, "num_samples": 1}}, {}, 1)
    with pytest.raises(ValueError, match="num_samples"):
        validate_results(bad)
