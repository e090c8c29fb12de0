"""Training samplers, chosen by ``DATALOADER.TRAIN_X.SAMPLER`` with Dassl's names and semantics."""
from __future__ import annotations

import random
from collections import defaultdict
from typing import Iterator

import torch
from torch.utils.data import RandomSampler, Sampler, SequentialSampler

from .datasets.base import Datum

SAMPLERS = ("RandomSampler", "SequentialSampler", "RandomDomainSampler")


class RandomDomainSampler(Sampler[int]):
    """Each batch draws ``n_domain`` random source domains and ``batch_size // n_domain`` images
    from each, so every batch is domain-balanced (Dassl's semantics). torch has no such sampler.

    An epoch ends when a chosen domain runs out of unseen images, like Dassl's.
    """

    def __init__(self, data: list[Datum], batch_size: int, n_domain: int, seed: int):
        self.by_domain: dict[str, list[int]] = defaultdict(list)
        for i, d in enumerate(data):
            self.by_domain[d.domain].append(i)
        self.domains = sorted(self.by_domain)
        self.n_domain = n_domain if n_domain > 0 else len(self.domains)
        if self.n_domain > len(self.domains):
            raise ValueError(f"DATALOADER.TRAIN_X.N_DOMAIN={n_domain} but there are only "
                             f"{len(self.domains)} source domains: {self.domains}")
        if batch_size % self.n_domain:
            raise ValueError(f"DATALOADER.TRAIN_X.BATCH_SIZE={batch_size} must be divisible by the number "
                             f"of domains per batch ({self.n_domain}) for RandomDomainSampler")
        self.per_domain = batch_size // self.n_domain
        self.seed = seed
        self.epoch = 0
        self._length = self._count()

    def _count(self) -> int:
        # worst case over domain choices is data-dependent; this is the expected full-length pass
        smallest = min(len(v) for v in self.by_domain.values())
        return (smallest // self.per_domain) * self.per_domain * self.n_domain

    def __iter__(self) -> Iterator[int]:
        rng = random.Random(self.seed * 100003 + self.epoch)
        self.epoch += 1
        pools = {d: rng.sample(idx, len(idx)) for d, idx in self.by_domain.items()}
        out: list[int] = []
        active = list(self.domains)
        while len(active) >= self.n_domain:
            for d in rng.sample(active, self.n_domain):
                out.extend(pools[d][: self.per_domain])
                pools[d] = pools[d][self.per_domain:]
                if len(pools[d]) < self.per_domain:
                    active.remove(d)
            if len(out) >= self._length:
                break
        return iter(out[: self._length])

    def __len__(self) -> int:
        return self._length


def build_train_sampler(cfg, data: list[Datum], batch_size: int) -> Sampler:
    name = cfg.DATALOADER.TRAIN_X.SAMPLER
    if name == "RandomSampler":
        return RandomSampler(data, generator=torch.Generator().manual_seed(cfg.SEED))
    if name == "SequentialSampler":
        return SequentialSampler(data)
    if name == "RandomDomainSampler":
        return RandomDomainSampler(data, batch_size, cfg.DATALOADER.TRAIN_X.N_DOMAIN, cfg.SEED)
    raise ValueError(f"Unknown sampler '{name}' (DATALOADER.TRAIN_X.SAMPLER). Available: {', '.join(SAMPLERS)}")
