"""A trained run, reopened for analysis: its config, its model with a checkpoint's weights, and
its data (source images without training augmentation, per-domain evaluation loaders).

Nothing is written into the run: no hooks, no logger files, no optimizer.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Subset
from yacs.config import CfgNode as CN

from ..config import get_cfg_defaults, merge_from_file, merge_from_list, validate_cfg
from ..data import DGDataset, build_data_loaders, build_dataset
from ..data.build import DatumDataset, collate_skipping
from ..data.splits import val_split_name
from ..data.transforms import build_transform
from ..errors import MissingFileError
from ..engine.checkpoint import find_checkpoint, load_checkpoint
from ..modeling import build_model
from ..modeling.classifier import Classifier


@dataclass
class TrainedRun:
    run_dir: str
    cfg: CN
    model: Classifier
    dataset: DGDataset
    checkpoint: str
    #: one evaluation loader per target domain, by domain
    test_loaders: dict[str, DataLoader]
    #: one validation loader per source domain (held out of training), by domain
    val_loaders: dict[str, DataLoader]
    device: torch.device

    @property
    def loaders(self) -> dict[str, DataLoader]:
        """Every evaluation loader, by split name: the target domains, then the sources' validation
        splits (``slim_dg.data.splits.val_split_name``)."""
        return {**self.test_loaders, **{val_split_name(d): loader for d, loader in self.val_loaders.items()}}

    @property
    def label(self) -> str:
        """How figures and tables name this run: trainer, target domains and seed."""
        return f"{self.cfg.TRAINER.NAME} ({', '.join(self.cfg.DATASET.TARGET_DOMAINS)}, seed {self.cfg.SEED})"

    def subset_loader(self, domain: str, max_images: int, seed: int = 0) -> DataLoader:
        """The evaluation loader of ``domain``, limited to ``max_images`` images drawn at random by
        ``seed`` (0: all). Random, not the first ones: evaluation order is sorted by class."""
        loader = self.loaders[domain]
        n = len(loader.dataset)
        if not max_images or max_images >= n:
            return loader
        idx = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:max_images].sort().values
        return DataLoader(Subset(loader.dataset, idx.tolist()), batch_size=loader.batch_size,
                          num_workers=loader.num_workers, collate_fn=loader.collate_fn)

    def source_batch(self, size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """``size`` training images of the source domains, chosen by ``seed``, without augmentation."""
        data = self.dataset.train_x
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(data), generator=g)[:size].tolist()
        ds = DatumDataset([data[i] for i in idx], build_transform(self.cfg, is_train=False), self.dataset.domains)
        batch = collate_skipping([ds[i] for i in range(len(ds))])
        return batch["img"].to(self.device), batch["label"].to(self.device)


def load_run(run_dir: str, which: str | None = None, device: str | torch.device = "cpu",
             opts: list[str] | None = None) -> TrainedRun:
    """The run in ``run_dir`` (a ``tools/train.py`` output dir) with checkpoint ``which``
    (epoch N, ``best``, a file name; default the newest). ``opts`` are ``KEY VALUE`` overrides,
    e.g. ``DATASET.ROOT /data`` when the data moved."""
    config = os.path.join(run_dir, "config.yaml")
    if not os.path.isfile(config):
        raise MissingFileError(f"{run_dir} has no config.yaml: pass the output dir of a tools/train.py run")
    cfg = get_cfg_defaults()
    merge_from_file(cfg, config)
    merge_from_list(cfg, list(opts or []))
    validate_cfg(cfg)
    cfg.freeze()
    device = torch.device(device)
    path = find_checkpoint(run_dir, which)
    dataset = build_dataset(cfg)
    _, val, test = build_data_loaders(cfg, dataset)
    model = build_model(cfg, dataset.num_classes)
    model.load_state_dict(load_checkpoint(path, "cpu")["model"])
    model.to(device).eval()
    return TrainedRun(run_dir, cfg, model, dataset, path, test, val, device)
