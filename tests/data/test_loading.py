from collections import Counter

import pytest
import torch

from slim_dg.config import get_cfg_defaults
from slim_dg.data.datasets.base import Datum
from slim_dg.data.samplers import RandomDomainOrder, RandomOrder, TrainSampler
from slim_dg.data.transforms import build_transform


def _data(sizes):
    return [Datum(f"{d}/{i}.png", 0, d) for d, n in sizes.items() for i in range(n)]


def test_random_domain_order_balances_every_batch():
    data = _data({"a": 40, "b": 25, "c": 60})
    order = RandomDomainOrder(data, batch_size=12, n_domain=2, seed=0)
    idx = order(0)
    assert idx and len(idx) % 12 == 0 and len(set(idx)) == len(idx)  # no image twice in an epoch
    for b in range(0, len(idx), 12):
        counts = Counter(data[i].domain for i in idx[b:b + 12])
        assert sorted(counts.values()) == [6, 6], counts  # two domains, half the batch each
    assert RandomDomainOrder(data, 12, 2, seed=0)(0) == idx  # a function of (seed, epoch)
    assert order(1) != idx  # a new order every epoch


def test_random_domain_order_rejects_impossible_settings():
    with pytest.raises(ValueError, match="divisible"):
        RandomDomainOrder(_data({"a": 10, "b": 10}), batch_size=9, n_domain=2, seed=0)
    with pytest.raises(ValueError, match="only 2 source domains"):
        RandomDomainOrder(_data({"a": 10, "b": 10}), batch_size=9, n_domain=3, seed=0)
    with pytest.raises(ValueError, match=r"\{'b': 3\}"):
        RandomDomainOrder(_data({"a": 10, "b": 3}), batch_size=8, n_domain=2, seed=0)


def test_train_sampler_resumes_mid_epoch_with_the_same_items_and_seeds():
    sampler = TrainSampler(RandomOrder(50, seed=3), seed=3)
    sampler.set_epoch(2)
    full = list(sampler)
    assert sorted(i for i, _ in full) == list(range(50))
    assert len({s for _, s in full}) == 50  # every item its own augmentation seed
    sampler.set_start(20)
    assert list(sampler) == full[20:] and len(sampler) == 30
    sampler.set_start(0)
    sampler.set_epoch(3)
    assert list(sampler) != full


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
