from collections import Counter

import pytest
import torch

from slim_dg.config import get_cfg_defaults
from slim_dg.data.datasets.base import Datum
from slim_dg.data.samplers import RandomDomainSampler
from slim_dg.data.transforms import build_transform


def _data(sizes):
    return [Datum(f"{d}/{i}.png", 0, d) for d, n in sizes.items() for i in range(n)]


def test_random_domain_sampler_balances_every_batch():
    data = _data({"a": 40, "b": 25, "c": 60})
    sampler = RandomDomainSampler(data, batch_size=12, n_domain=2, seed=0)
    idx = list(sampler)
    assert idx and len(idx) % 12 == 0 and len(set(idx)) == len(idx)  # no image twice in an epoch
    for b in range(0, len(idx), 12):
        counts = Counter(data[i].domain for i in idx[b:b + 12])
        assert sorted(counts.values()) == [6, 6], counts  # two domains, half the batch each
    assert list(RandomDomainSampler(data, 12, 2, seed=0)) == idx  # seeded
    assert list(sampler) != idx  # a new order every epoch


def test_random_domain_sampler_rejects_impossible_settings():
    with pytest.raises(ValueError, match="divisible"):
        RandomDomainSampler(_data({"a": 10, "b": 10}), batch_size=9, n_domain=2, seed=0)
    with pytest.raises(ValueError, match="only 2 source domains"):
        RandomDomainSampler(_data({"a": 10, "b": 10}), batch_size=9, n_domain=3, seed=0)


def test_transforms_resize_and_normalise_uint8_images():
    cfg = get_cfg_defaults()
    cfg.INPUT.SIZE = (16, 16)
    cfg.INPUT.TRANSFORMS = ["random_resized_crop", "random_translation", "random_flip", "color_jitter"]
    cfg.INPUT.PIXEL_MEAN, cfg.INPUT.PIXEL_STD = [0.5] * 3, [0.5] * 3
    img = torch.full((3, 40, 30), 255, dtype=torch.uint8)
    for is_train in (True, False):
        out = build_transform(cfg, is_train)(img)
        assert out.shape == (3, 16, 16) and out.dtype == torch.float32
    assert torch.allclose(build_transform(cfg, False)(img), torch.ones(3, 16, 16))  # white -> (1-0.5)/0.5
