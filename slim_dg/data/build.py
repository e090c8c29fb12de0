"""The dataset registry and the builders of datasets and data loaders.

A registered dataset is a ``DGDataset`` subclass: it declares ``domains`` and is built with
``from_config(cfg)``. Register your own with ``@DATASET_REGISTRY.register()`` in any module and
pass ``--plugin your.module`` to ``tools/train.py``: nothing in ``tools/`` needs editing.
"""
from __future__ import annotations

import logging

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, default_collate
from torchvision.transforms.v2.functional import pil_to_tensor

from ..registry import Registry
from .datasets.base import Datum, DGDataset
from .samplers import build_train_sampler
from .transforms import build_transform

DATASET_REGISTRY = Registry("Dataset", config_key="DATASET.NAME")
logger = logging.getLogger(__name__)


def build_dataset(cfg) -> DGDataset:
    dataset = DATASET_REGISTRY.get(cfg.DATASET.NAME).from_config(cfg)
    if not isinstance(dataset, DGDataset):
        raise TypeError(f"Dataset '{cfg.DATASET.NAME}' built a {type(dataset).__name__}, not a DGDataset")
    return dataset


class DatumDataset(Dataset):
    """Decodes one ``Datum`` per item into ``{"img", "label", "domain"}`` (Dassl's batch keys).

    A key may be ``(index, seed)``: the random augmentation of that item is then drawn from
    ``seed`` (see ``TrainSampler``). With ``skip_bad=True`` an unreadable image yields ``None``,
    which ``collate_skipping`` drops and counts; otherwise it raises naming the file.
    """

    def __init__(self, data: list[Datum], transform, domains: tuple[str, ...], skip_bad: bool = False):
        self.data = data
        self.transform = transform
        self.domain_index = {d: i for i, d in enumerate(domains)}
        self.skip_bad = skip_bad

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, key) -> dict | None:
        i, seed = key if isinstance(key, tuple) else (key, None)
        d = self.data[i]
        try:
            # PIL, not torchvision.io: torchvision 0.29 deprecates its decoders; uint8 CHW until normalisation
            with Image.open(d.impath) as im:
                img = pil_to_tensor(im.convert("RGB"))
        except OSError as e:
            if self.skip_bad:
                logger.warning("Skipping unreadable image %s: %s", d.impath, e)
                return None
            raise RuntimeError(f"Cannot read image {d.impath}: {e}. Replace the file, or set "
                               "DATALOADER.ON_BAD_IMAGE skip to leave such images out (they are counted).") from e
        if seed is None:
            img = self.transform(img)
        else:
            with torch.random.fork_rng(devices=[]):  # leave the caller's random stream untouched
                torch.manual_seed(seed)
                img = self.transform(img)
        return {"img": img, "label": d.label, "domain": self.domain_index[d.domain]}


def collate_skipping(items: list[dict | None]) -> dict:
    """Default collation of the readable items, with ``"skipped"``: how many were not."""
    good = [x for x in items if x is not None]
    batch = default_collate(good) if good else {}
    batch["skipped"] = torch.tensor(len(items) - len(good))
    return batch


def _loader(cfg, data: list[Datum], transform, dataset: DGDataset, batch_size: int, sampler=None) -> DataLoader:
    workers = cfg.DATALOADER.NUM_WORKERS
    return DataLoader(
        DatumDataset(data, transform, dataset.domains, skip_bad=cfg.DATALOADER.ON_BAD_IMAGE == "skip"),
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        collate_fn=collate_skipping,
        pin_memory=cfg.USE_CUDA and torch.cuda.is_available(),
        persistent_workers=workers > 0,
        # its own generator: creating an iterator must not draw from the global RNG (exact resume)
        generator=torch.Generator().manual_seed(cfg.SEED),
        # training drops the ragged last batch (BN on a batch of one fails); evaluation keeps every image
        drop_last=sampler is not None and len(data) > batch_size,
    )


def build_data_loaders(cfg, dataset: DGDataset) -> tuple[DataLoader, dict[str, DataLoader], dict[str, DataLoader]]:
    """The training loader over all source domains, and one evaluation loader per domain for
    source validation and for each target domain (domains are never pooled in evaluation)."""
    train_tf, test_tf = build_transform(cfg, is_train=True), build_transform(cfg, is_train=False)
    bs = cfg.DATALOADER.TRAIN_X.BATCH_SIZE
    if bs > len(dataset.train_x):
        raise ValueError(f"DATALOADER.TRAIN_X.BATCH_SIZE ({bs}) is larger than the training set "
                         f"({len(dataset.train_x)} images of {', '.join(dataset.source_domains)}); lower it")
    sampler = build_train_sampler(cfg, dataset.train_x, bs)
    train = _loader(cfg, dataset.train_x, train_tf, dataset, bs, sampler)
    test_bs = cfg.DATALOADER.TEST.BATCH_SIZE
    val = {d: _loader(cfg, data, test_tf, dataset, test_bs) for d, data in dataset.val.items()}
    test = {d: _loader(cfg, data, test_tf, dataset, test_bs) for d, data in dataset.test.items()}
    return train, val, test
