"""The fast input pipeline (issue 9): decoding, the in-memory cache, batch normalisation, worker
settings, and the DDP shards of the samplers."""
from __future__ import annotations

import itertools
import os
from collections import Counter

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from slim_dg.config import ConfigError, get_cfg_defaults, merge_from_list
from slim_dg.data import build as data_build
from slim_dg.data import build_dataset
from slim_dg.data.build import (DatumDataset, DecodedImages, build_data_loaders, collate_skipping, decode_rgb,
                                resolve_num_workers)
from slim_dg.data.datasets.base import Datum
from slim_dg.data.samplers import RandomDomainOrder, RandomOrder, ShardSampler, TrainSampler
from slim_dg.data.transforms import BatchNormalize, build_transform

from cfg_testutils import digits_cfg



def _cfg(digits_root, *opts):
    return digits_cfg(digits_root, "digits_dg_erm.yaml", "DATALOADER.TRAIN_X.BATCH_SIZE", "8",
                      "DATALOADER.TEST.BATCH_SIZE", "50", *opts)


def _batches(loader, epoch: int, start_step: int, n: int) -> list[dict]:
    loader.sampler.set_epoch(epoch)
    loader.sampler.set_start(start_step * loader.batch_size)
    return list(itertools.islice(loader, n))


def _assert_same_batches(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b) and a
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for k in x:
            assert torch.equal(x[k], y[k]), k


# ---------------------------------------------------------------------------------------------- decoding
@pytest.mark.parametrize("mode", ["RGB", "L", "LA", "RGBA", "P"])
def test_decode_rgb_equals_pil_on_png(tmp_path, mode):
    rng = np.random.default_rng(0)
    im = Image.fromarray(rng.integers(0, 256, (13, 17, 3), dtype=np.uint8)).convert(mode)
    path = str(tmp_path / "x.png")
    im.save(path)
    want = torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1)
    got = decode_rgb(path)
    assert got.dtype == torch.uint8 and got.shape == (3, 13, 17)
    assert torch.equal(got, want)


def test_decode_rgb_reads_jpeg_and_other_formats_and_names_bad_files(tmp_path):
    rng = np.random.default_rng(1)
    arr = rng.integers(0, 256, (24, 20, 3), dtype=np.uint8)
    Image.fromarray(arr).save(tmp_path / "x.jpg", quality=95)
    Image.fromarray(arr).save(tmp_path / "x.bmp")  # torchvision does not read BMP: PIL does
    pil = torch.from_numpy(np.array(Image.open(tmp_path / "x.jpg").convert("RGB"))).permute(2, 0, 1)
    assert (decode_rgb(str(tmp_path / "x.jpg")).int() - pil.int()).abs().max() <= 2  # both libjpeg-turbo
    assert torch.equal(decode_rgb(str(tmp_path / "x.bmp")), torch.from_numpy(arr).permute(2, 0, 1))
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(OSError):
        decode_rgb(str(tmp_path / "bad.png"))
    with pytest.raises(OSError):
        decode_rgb(str(tmp_path / "missing.png"))


def test_decoded_images_cache_returns_copies_and_keeps_errors(tmp_path):
    paths = []
    for i, shape in enumerate([(5, 7, 3), (9, 4, 3)]):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(np.full(shape, 10 * (i + 1), np.uint8)).save(paths[-1])
    (tmp_path / "bad.png").write_bytes(b"not an image")
    data = [Datum(p, 0, "a") for p in paths + [str(tmp_path / "bad.png")]]
    cache = DecodedImages(data, threads=2)
    assert cache.nbytes == 5 * 7 * 3 + 9 * 4 * 3 and list(cache.errors) == [2]
    for i in range(2):
        assert torch.equal(cache[i], decode_rgb(paths[i]))
    cache[0].zero_()  # a caller writing into what it got must not change the cache
    assert torch.equal(cache[0], decode_rgb(paths[0]))
    with pytest.raises(OSError):
        cache[2]
    ds = DatumDataset(data, build_transform(get_cfg_defaults(), False), ("a",), skip_bad=True, cache=cache)
    assert ds[2] is None and collate_skipping([ds[0], ds[2]])["skipped"] == 1


# ---------------------------------------------------------------------------------------------- loaders
def test_cache_on_and_off_give_identical_batches(digits_root):
    off = build_data_loaders(_cfg(digits_root, "DATALOADER.CACHE", "False"), build_dataset(_cfg(digits_root)))
    on_cfg = _cfg(digits_root, "DATALOADER.CACHE", "True")
    on = build_data_loaders(on_cfg, build_dataset(on_cfg))
    assert off[0].dataset.cache is None and on[0].dataset.cache is not None
    for epoch, start in ((0, 0), (1, 5)):  # a new epoch, and a resumed position in it
        _assert_same_batches(_batches(off[0], epoch, start, 3), _batches(on[0], epoch, start, 3))
    _assert_same_batches(list(off[2]["texture"]), list(on[2]["texture"]))
    _assert_same_batches(list(off[1]["mono"]), list(on[1]["mono"]))


def test_cache_is_shared_with_worker_processes(digits_root):
    cfg = _cfg(digits_root, "DATALOADER.CACHE", "True")
    dataset = build_dataset(cfg)
    main_only = build_data_loaders(cfg, dataset)[0]
    workers_cfg = _cfg(digits_root, "DATALOADER.CACHE", "True", "DATALOADER.NUM_WORKERS", "2")
    with_workers = build_data_loaders(workers_cfg, dataset)[0]
    assert with_workers.num_workers == 2 and with_workers.persistent_workers
    _assert_same_batches(_batches(main_only, 2, 0, 4), _batches(with_workers, 2, 0, 4))


def test_batch_normalisation_equals_the_per_image_pipeline(digits_root):
    cfg = _cfg(digits_root, "INPUT.TRANSFORMS", "['random_crop', 'random_flip', 'color_jitter']")
    dataset = build_dataset(cfg)
    loader = build_data_loaders(cfg, dataset)[0]
    got = _batches(loader, 0, 0, 1)[0]
    per_image = DatumDataset(dataset.train_x, build_transform(cfg, is_train=True), dataset.domains)
    keys = list(itertools.islice(iter(loader.sampler), loader.batch_size))
    want = collate_skipping([per_image[k] for k in keys])
    assert got["img"].dtype == torch.float32
    assert torch.equal(got["img"], want["img"]) and torch.equal(got["label"], want["label"])
    x = torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8)  # any leading dims
    torch.testing.assert_close(BatchNormalize([0.5] * 3, [0.25] * 3)(x), (x / 255 - 0.5) / 0.25)


@pytest.mark.parametrize("cpus", [1, 2, 3, 4, 8, 32])
@pytest.mark.parametrize("threads", [1, 2, 4, 16])
def test_auto_workers_never_exceed_the_cpus_training_leaves(monkeypatch, cpus, threads):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cpus)))
    assert resolve_num_workers(-1, threads) == max(0, min(8, cpus - threads))  # at most 8
    assert resolve_num_workers(3, threads) == 3 and resolve_num_workers(0, threads) == 0  # as set


def test_num_workers_auto_pin_memory_and_prefetch(digits_root, monkeypatch):
    assert get_cfg_defaults().DATALOADER.NUM_WORKERS == -1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)  # the step computes on both cores: none left
    loader = build_data_loaders(_cfg(digits_root, "DATALOADER.NUM_WORKERS", "-1", "DATALOADER.PREFETCH_FACTOR", "3",
                                     "USE_CUDA", "False"), build_dataset(_cfg(digits_root)))[0]
    assert loader.num_workers == 0 and loader.prefetch_factor is None and not loader.pin_memory
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(5)))
    loader = build_data_loaders(_cfg(digits_root, "DATALOADER.PREFETCH_FACTOR", "3", "DATALOADER.NUM_WORKERS", "-1",
                                     "USE_CUDA", "False"), build_dataset(_cfg(digits_root)))[0]
    assert loader.num_workers == 3 and loader.prefetch_factor == 3 and loader.persistent_workers
    assert not loader.pin_memory  # page-locked only when a GPU will read it


def test_shipped_dataset_configs_leave_workers_to_auto():
    folder = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "datasets")
    for name in os.listdir(folder):
        workers = yaml.safe_load(open(os.path.join(folder, name))).get("DATALOADER", {}).get("NUM_WORKERS", -1)
        assert workers in (-1, 0), f"{name}: NUM_WORKERS {workers}; -1 (auto) fits the machine"


@pytest.mark.parametrize("budget_mb,cached", [(1000, True), (0.01, False)])
def test_cache_auto_keeps_evaluation_images_when_they_fit_the_budget(digits_root, monkeypatch, caplog, budget_mb,
                                                                     cached):
    monkeypatch.setattr(data_build, "cache_budget", lambda: int(budget_mb * 2 ** 20))
    cfg = _cfg(digits_root, "DATALOADER.CACHE", "auto")
    assert get_cfg_defaults().DATALOADER.CACHE == "auto"
    with caplog.at_level("INFO", logger="slim_dg.data.build"):
        train, val, test = build_data_loaders(cfg, build_dataset(cfg))
    # the training images too, after their resize (augmented at every step)
    assert (train.dataset.cache is not None) == cached
    if cached:
        assert train.dataset.cache.nbytes == len(train.dataset) * 3 * 32 * 32
        assert "training images need" in caplog.text and "decoded once and kept (augmented" in caplog.text
    for loader in (*val.values(), *test.values()):
        assert (loader.dataset.cache is not None) == cached
        if cached:  # stored after the resize: INPUT.SIZE, nothing left for workers to do
            assert loader.dataset.cache.nbytes == len(loader.dataset) * 3 * 32 * 32 and loader.num_workers == 0
    assert f"the budget is {budget_mb:.1f} MB" in caplog.text
    assert ("decoded once and kept" if cached else "decoded at every evaluation") in caplog.text
    off = _cfg(digits_root, "DATALOADER.CACHE", "False")
    _, off_val, off_test = build_data_loaders(off, build_dataset(off))
    _assert_same_batches(list(off_test["texture"]), list(test["texture"]))
    _assert_same_batches(list(off_val["mono"]), list(val["mono"]))


@pytest.mark.parametrize("transforms", ["['random_translation', 'random_flip']", "['random_crop', 'color_jitter']",
                                        "[]"])  # no augmentation: the resize is the whole pipeline
def test_training_cache_after_the_resize_gives_identical_batches(digits_root, transforms):
    # 24 px: the resize really changes the 32 px images, so caching after it must equal resizing each time
    opts = ("INPUT.SIZE", "(24, 24)", "INPUT.TRANSFORMS", transforms)
    off_cfg = _cfg(digits_root, "DATALOADER.CACHE", "False", *opts)
    on_cfg = _cfg(digits_root, "DATALOADER.CACHE", "auto", *opts)
    off = build_data_loaders(off_cfg, build_dataset(off_cfg))[0]
    on = build_data_loaders(on_cfg, build_dataset(on_cfg))[0]
    assert off.dataset.cache is None and on.dataset.cache.nbytes == len(on.dataset) * 3 * 24 * 24
    for epoch, start in ((0, 0), (3, 7)):
        _assert_same_batches(_batches(off, epoch, start, 3), _batches(on, epoch, start, 3))


def test_cache_auto_leaves_random_resized_crop_inputs_undecoded(digits_root, caplog):
    cfg = _cfg(digits_root, "DATALOADER.CACHE", "auto", "INPUT.TRANSFORMS", "['random_resized_crop']")
    with caplog.at_level("INFO", logger="slim_dg.data.build"):
        train, val, _ = build_data_loaders(cfg, build_dataset(cfg))
    assert train.dataset.cache is None and all(ld.dataset.cache is not None for ld in val.values())
    assert "random_resized_crop" in caplog.text


def test_cache_takes_true_false_or_auto():
    cfg = get_cfg_defaults()
    for value, want in (("True", True), ("False", False), ("auto", "auto")):
        merge_from_list(cfg, ["DATALOADER.CACHE", value])
        assert cfg.DATALOADER.CACHE is want or cfg.DATALOADER.CACHE == want
    for bad in ("sometimes", "1"):
        with pytest.raises(ConfigError, match="DATALOADER.CACHE expects True, False or auto"):
            merge_from_list(cfg, ["DATALOADER.CACHE", bad])


def test_bad_image_in_a_cached_dataset_fails_at_build_time_naming_it(tmp_path):
    for i in range(4):
        os.makedirs(tmp_path / "d" / "c", exist_ok=True)
        Image.fromarray(np.full((6, 6, 3), i, np.uint8)).save(tmp_path / "d" / "c" / f"{i}.png")
    (tmp_path / "d" / "c" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    data = [Datum(str(p), 0, "d") for p in sorted((tmp_path / "d" / "c").iterdir())]

    class _Dataset:  # what _loader reads of a DGDataset
        domains = ("d",)
    from slim_dg.data.build import _loader

    cfg = get_cfg_defaults()
    cfg.DATALOADER.CACHE, cfg.DATALOADER.NUM_WORKERS, cfg.INPUT.SIZE = True, 0, (6, 6)
    with pytest.raises(RuntimeError, match="broken.png.*DATALOADER.ON_BAD_IMAGE skip"):
        _loader(cfg, data, build_transform(cfg, False, normalize=False), _Dataset(), 2, cache=True)
    cfg.DATALOADER.ON_BAD_IMAGE = "skip"
    loader = _loader(cfg, data, build_transform(cfg, False, normalize=False), _Dataset(), 5, cache=True)
    batch = next(iter(loader))
    assert batch["img"].shape == (4, 3, 6, 6) and int(batch["skipped"]) == 1


# ---------------------------------------------------------------------------------------------- DDP shards
def _data(sizes):
    return [Datum(f"{d}/{i}.png", 0, d) for d, n in sizes.items() for i in range(n)]


@pytest.mark.parametrize("world", [2, 3])
def test_train_shards_are_disjoint_whole_batches_of_the_global_order(world):
    data = _data({"a": 40, "b": 25, "c": 60})
    bs = 6
    for order in (RandomOrder(len(data), seed=4), RandomDomainOrder(data, bs, n_domain=2, seed=4)):
        single = TrainSampler(order, seed=4)
        single.set_epoch(1)
        glob = list(single)
        shards = []
        for rank in range(world):
            s = TrainSampler(order, seed=4, num_replicas=world, rank=rank, block=bs)
            s.set_epoch(1)
            shards.append(list(s))
        rounds = len(glob) // (bs * world)
        assert all(len(sh) == rounds * bs for sh in shards)  # the same number of steps everywhere
        for rank, sh in enumerate(shards):
            for b in range(rounds):  # the rank's b-th batch is global batch b * world + rank, seeds too
                g = (b * world + rank) * bs
                assert sh[b * bs:(b + 1) * bs] == glob[g:g + bs]
        flat = [i for sh in shards for i, _ in sh]
        assert len(set(flat)) == len(flat)  # disjoint
        if isinstance(order, RandomDomainOrder):  # every process's batches stay domain-balanced
            for sh in shards:
                for b in range(0, len(sh), bs):
                    assert sorted(Counter(data[i].domain for i, _ in sh[b:b + bs]).values()) == [3, 3]
    s = TrainSampler(RandomOrder(50, seed=1), seed=1, num_replicas=2, rank=1, block=5)
    full = list(s)
    s.set_start(10)  # positions count within the shard (resume)
    assert list(s) == full[10:] and len(s) == len(full) - 10


def test_eval_shards_cover_every_item_exactly_once():
    for n, world in ((449, 2), (46, 3), (2, 4)):
        items = [i for r in range(world) for i in ShardSampler(n, world, r)]
        assert sorted(items) == list(range(n))
        assert sum(len(ShardSampler(n, world, r)) for r in range(world)) == n
