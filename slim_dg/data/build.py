"""The dataset registry and the builders of datasets and data loaders.

A registered dataset is a ``DGDataset`` subclass: it declares ``domains`` and is built with
``from_config(cfg)``. Register your own with ``@DATASET_REGISTRY.register()`` in any module and
pass ``--plugin your.module`` to ``tools/train.py``: nothing in ``tools/`` needs editing.
"""
from __future__ import annotations

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms.v2.functional import pil_to_tensor

from ..registry import Registry
from .datasets.base import Datum, DGDataset
from .samplers import build_train_sampler
from .transforms import build_transform

DATASET_REGISTRY = Registry("Dataset", config_key="DATASET.NAME")


def build_dataset(cfg) -> DGDataset:
    dataset = DATASET_REGISTRY.get(cfg.DATASET.NAME).from_config(cfg)
    if not isinstance(dataset, DGDataset):
        raise TypeError(f"Dataset '{cfg.DATASET.NAME}' built a {type(dataset).__name__}, not a DGDataset")
    return dataset


class DatumDataset(Dataset):
    """Decodes one ``Datum`` per item into ``{"img", "label", "domain"}`` (Dassl's batch keys)."""

    def __init__(self, data: list[Datum], transform, domains: tuple[str, ...]):
        self.data = data
        self.transform = transform
        self.domain_index = {d: i for i, d in enumerate(domains)}

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> dict:
        d = self.data[i]
        try:
            # PIL, not torchvision.io: torchvision 0.29 deprecates its decoders; uint8 CHW until normalisation
            with Image.open(d.impath) as im:
                img = pil_to_tensor(im.convert("RGB"))
        except OSError as e:
            raise RuntimeError(f"Cannot read image {d.impath}: {e}") from e
        return {"img": self.transform(img), "label": d.label, "domain": self.domain_index[d.domain]}


def _loader(cfg, data: list[Datum], transform, dataset: DGDataset, batch_size: int, sampler=None) -> DataLoader:
    workers = cfg.DATALOADER.NUM_WORKERS
    return DataLoader(
        DatumDataset(data, transform, dataset.domains),
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        pin_memory=cfg.USE_CUDA and torch.cuda.is_available(),
        persistent_workers=workers > 0,
        # training drops the ragged last batch (BN on a batch of one fails); evaluation keeps every image
        drop_last=sampler is not None and len(data) > batch_size,
    )


def build_data_loaders(cfg, dataset: DGDataset) -> tuple[DataLoader, dict[str, DataLoader], dict[str, DataLoader]]:
    """The training loader over all source domains, and one evaluation loader per domain for
    source validation and for each target domain (domains are never pooled in evaluation)."""
    train_tf, test_tf = build_transform(cfg, is_train=True), build_transform(cfg, is_train=False)
    bs = cfg.DATALOADER.TRAIN_X.BATCH_SIZE
    sampler = build_train_sampler(cfg, dataset.train_x, bs)
    train = _loader(cfg, dataset.train_x, train_tf, dataset, bs, sampler)
    test_bs = cfg.DATALOADER.TEST.BATCH_SIZE
    val = {d: _loader(cfg, data, test_tf, dataset, test_bs) for d, data in dataset.val.items()}
    test = {d: _loader(cfg, data, test_tf, dataset, test_bs) for d, data in dataset.test.items()}
    return train, val, test
