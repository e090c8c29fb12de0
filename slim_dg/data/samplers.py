"""Training samplers, chosen by ``DATALOADER.TRAIN_X.SAMPLER`` with Dassl's names and semantics.

Each epoch's order is a pure function of (seed, epoch), and ``TrainSampler`` can start an epoch
at any position, so a run resumed from a mid-epoch checkpoint sees exactly the batches the
interrupted run would have seen. It also hands every sample a seed for its random augmentation,
so augmentations do not depend on the number of workers or on where a run was resumed.

Under DDP (``torchrun``) every process computes the same global order and takes a disjoint shard of
it in whole batches (process r takes global batches r, r + N, r + 2N, ...), so each of its batches
is one the single-process sampler would form: ``RandomDomainSampler`` batches stay domain-balanced.
Evaluation loaders shard their items ``rank::N`` without padding (``ShardSampler``).
"""
from __future__ import annotations

import random
from collections import defaultdict
from typing import Iterator

import numpy as np
from torch.utils.data import Sampler

from .datasets.base import Datum

SAMPLERS = ("RandomSampler", "SequentialSampler", "RandomDomainSampler")


def _mix(*ints: int) -> int:
    """A well-spread 63-bit seed from several integers (seed, epoch, position)."""
    return int(np.random.SeedSequence([i & 0xFFFFFFFF for i in ints]).generate_state(2, np.uint32).view(np.uint64)[0]
               >> np.uint64(1))


class RandomOrder:
    def __init__(self, n: int, seed: int):
        self.n, self.seed = n, seed

    def __call__(self, epoch: int) -> list[int]:
        return np.random.default_rng(_mix(self.seed, epoch, 1)).permutation(self.n).tolist()


class SequentialOrder:
    def __init__(self, n: int):
        self.n = n

    def __call__(self, epoch: int) -> list[int]:
        return list(range(self.n))


class RandomDomainOrder:
    """Each batch draws ``n_domain`` random source domains and ``batch_size // n_domain`` images
    from each, so every batch is domain-balanced (Dassl's RandomDomainSampler; torch has none).
    An epoch ends when too few domains have unseen images left, as in Dassl."""

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
        small = {d: len(v) for d, v in self.by_domain.items() if len(v) < self.per_domain}
        if small:
            raise ValueError(f"RandomDomainSampler takes {self.per_domain} images per domain per batch, but "
                             f"source domains {small} have fewer; lower DATALOADER.TRAIN_X.BATCH_SIZE")
        self.seed = seed

    def __call__(self, epoch: int) -> list[int]:
        rng = random.Random(_mix(self.seed, epoch, 2))
        pools = {d: rng.sample(idx, len(idx)) for d, idx in self.by_domain.items()}
        out: list[int] = []
        active = list(self.domains)
        while len(active) >= self.n_domain:
            for d in rng.sample(active, self.n_domain):
                out.extend(pools[d][: self.per_domain])
                pools[d] = pools[d][self.per_domain:]
                if len(pools[d]) < self.per_domain:
                    active.remove(d)
        return out


class TrainSampler(Sampler):
    """Yields ``(index, augmentation seed)`` for epoch ``set_epoch(e)`` from position ``set_start(p)``.

    With ``num_replicas`` N > 1 it yields process ``rank``'s shard: the global batches (``block``
    items each) ``rank, rank + N, ...`` of the global order, only as many as every process gets, so
    all processes take the same number of steps. Positions (``set_start``) count within the shard;
    augmentation seeds come from the global position, so an item is augmented as it would be in a
    single process.
    """

    def __init__(self, order, seed: int, num_replicas: int = 1, rank: int = 0, block: int = 1):
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is not in [0, {num_replicas})")
        self.order = order
        self.seed = seed
        self.num_replicas, self.rank, self.block = num_replicas, rank, max(1, block)
        self.epoch = 0
        self.start = 0
        self._cached: tuple[int, list[int], list[int]] | None = None

    def _positions(self, n: int) -> list[int]:
        """Global positions of this process's items in an order of length ``n``."""
        if self.num_replicas == 1:
            return list(range(n))
        rounds = n // (self.block * self.num_replicas)
        return [(r * self.num_replicas + self.rank) * self.block + j for r in range(rounds) for j in range(self.block)]

    def _order(self) -> list[int]:
        if self._cached is None or self._cached[0] != self.epoch:
            order = self.order(self.epoch)
            self._cached = (self.epoch, order, self._positions(len(order)))
        return self._cached[2]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def set_start(self, position: int) -> None:
        self.start = position

    def __iter__(self) -> Iterator[tuple[int, int]]:
        positions = self._order()
        order = self._cached[1]
        for pos in positions[self.start:]:
            yield order[pos], _mix(self.seed, self.epoch, pos + 3)

    def __len__(self) -> int:
        return max(0, len(self._order()) - self.start)


class ShardSampler(Sampler):
    """Items ``rank, rank + N, ...`` of a dataset, in order: the N shards are disjoint and cover it
    exactly once, so per-domain counts summed over processes are the single-process counts (torch's
    ``DistributedSampler`` pads shards to equal length with repeated items, which would count twice)."""

    def __init__(self, n: int, num_replicas: int = 1, rank: int = 0):
        self.n, self.num_replicas, self.rank = n, num_replicas, rank

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.n, self.num_replicas))

    def __len__(self) -> int:
        return len(range(self.rank, self.n, self.num_replicas))


def build_train_sampler(cfg, data: list[Datum], batch_size: int, num_replicas: int = 1, rank: int = 0) -> TrainSampler:
    """The training sampler of ``DATALOADER.TRAIN_X.SAMPLER``; process ``rank``'s shard of it under DDP
    (``batch_size`` is then per process)."""
    name = cfg.DATALOADER.TRAIN_X.SAMPLER
    if name == "RandomSampler":
        order = RandomOrder(len(data), cfg.SEED)
    elif name == "SequentialSampler":
        order = SequentialOrder(len(data))
    elif name == "RandomDomainSampler":
        order = RandomDomainOrder(data, batch_size, cfg.DATALOADER.TRAIN_X.N_DOMAIN, cfg.SEED)
    else:
        raise ValueError(f"Unknown sampler '{name}' (DATALOADER.TRAIN_X.SAMPLER). Available: {', '.join(SAMPLERS)}")
    return TrainSampler(order, cfg.SEED, num_replicas, rank, batch_size)
