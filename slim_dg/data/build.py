"""The dataset registry and the builders of datasets and data loaders.

A registered dataset is a ``DGDataset`` subclass: it declares ``domains`` and is built with
``from_config(cfg)``. Register your own with ``@DATASET_REGISTRY.register()`` in any module and
pass ``--plugin your.module`` to ``tools/train.py``: nothing in ``tools/`` needs editing.

The loaders decode with torchvision's libjpeg-turbo/libpng decoders (PIL for other formats),
keep images uint8 through the per-image transforms and normalise whole batches in the collate
function; ``DATALOADER.CACHE`` keeps the decoded images in memory (``DecodedImages``).
"""
from __future__ import annotations

import itertools
import logging
import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, default_collate
from torchvision.transforms import v2
from torchvision.transforms.v2.functional import pil_to_tensor

from ..registry import Registry
from ..utils.distributed import get_local_world_size, get_rank, get_world_size
from ..utils.phases import phase
from .class_sets import check_class_sets
from .datasets.base import Datum, DGDataset
from .samplers import ShardSampler, build_train_sampler
from .transforms import BatchNormalize, build_transform, split_resize
from .verify_images import verify_images

DATASET_REGISTRY = Registry("Dataset", config_key="DATASET.NAME")
logger = logging.getLogger(__name__)
# torchvision 0.29 deprecates its decoders in favour of torchcodec (not a dependency of ours); they
# still decode JPEG ~2x and PNG ~1.6x faster than PIL, and decode_rgb falls back to PIL once they go
warnings.filterwarnings("ignore", message="The image decoding and encoding capabilities of TorchVision",
                        category=DeprecationWarning)
try:
    from torchvision.io import ImageReadMode, decode_image, read_file
except ImportError:  # a torchvision without them
    decode_image = None


@phase("data set-up")
def build_dataset(cfg) -> DGDataset:
    """The run's dataset, its class sets checked (``class_sets``: a target's classes that no source
    trains on stop the run here, before any work) and one line per domain logged."""
    dataset = DATASET_REGISTRY.get(cfg.DATASET.NAME).from_config(cfg)
    if not isinstance(dataset, DGDataset):
        raise TypeError(f"Dataset '{cfg.DATASET.NAME}' built a {type(dataset).__name__}, not a DGDataset")
    check_class_sets(cfg, dataset)
    return dataset


def decode_rgb(path: str) -> torch.Tensor:
    """The image at ``path`` as uint8 RGB, shaped (3, H, W); raises ``OSError`` if unreadable.

    torchvision's decoders read JPEG, PNG, GIF and WebP; anything else (BMP, TIFF, ...), 16-bit
    PNGs, and files they reject go through PIL, whose error then names what is wrong.
    """
    if decode_image is not None:
        try:
            img = decode_image(read_file(path), mode=ImageReadMode.RGB)
            if img.dtype == torch.uint8:
                return img
        except RuntimeError:  # a format it does not read, or a corrupt file: PIL says which
            pass
    with Image.open(path) as im:
        return pil_to_tensor(im.convert("RGB"))


class DecodedImages:
    """The decoded uint8 images of a list of ``Datum``, in one flat buffer, filled up front.

    Filled in the main process before the loader starts its workers: workers then share this one
    copy (forked copy-on-write, or through shared memory with the spawn start method, where one flat
    buffer costs one file handle instead of one per image). A cache filled lazily inside
    ``__getitem__`` would instead live in each worker: one copy per worker, each decoding its own,
    rebuilt whenever non-persistent workers restart. Decoding runs in threads: both decoders
    release the GIL. An unreadable image is stored as missing and raises (or is skipped) when read.
    ``transform``: a deterministic one (the resize; evaluation's whole pipeline) applied once, before storing.
    """

    def __init__(self, data: list[Datum], threads: int = 1, transform=None):
        def load(d: Datum):
            try:
                img = decode_rgb(d.impath)
            except OSError as e:
                return e
            return img if transform is None else transform(img)

        with ThreadPoolExecutor(max(1, threads)) as pool:
            images = list(pool.map(load, data))
        self.errors = {i: e for i, e in enumerate(images) if isinstance(e, OSError)}
        good = [im for im in images if not isinstance(im, OSError)]
        self.shapes = [None if isinstance(im, OSError) else tuple(im.shape) for im in images]
        sizes = [0 if isinstance(im, OSError) else im.numel() for im in images]
        self.offsets = list(itertools.accumulate(sizes, initial=0))[:-1]
        self.buffer = torch.cat([im.reshape(-1) for im in good]) if good else torch.empty(0, dtype=torch.uint8)

    @property
    def nbytes(self) -> int:
        return self.buffer.numel()

    def __getitem__(self, i: int) -> torch.Tensor:
        if i in self.errors:
            raise self.errors[i]
        shape = self.shapes[i]
        n = shape[0] * shape[1] * shape[2]
        # a copy: a transform that wrote into its input must never alter the cache
        return self.buffer[self.offsets[i]:self.offsets[i] + n].view(shape).clone()


class DatumDataset(Dataset):
    """Decodes one ``Datum`` per item into ``{"img", "label", "domain"}`` (Dassl's batch keys).

    A key may be ``(index, seed)``: the random augmentation of that item is then drawn from
    ``seed`` (see ``TrainSampler``). With ``skip_bad=True`` an unreadable image yields ``None``,
    which ``collate_skipping`` drops and counts; otherwise it raises naming the file. ``cache``
    (a ``DecodedImages`` of ``data``) replaces reading the files.
    """

    def __init__(self, data: list[Datum], transform, domains: tuple[str, ...], skip_bad: bool = False,
                 cache: DecodedImages | None = None):
        self.data = data
        self.transform = transform
        self.domain_index = {d: i for i, d in enumerate(domains)}
        self.skip_bad = skip_bad
        self.cache = cache

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, key) -> dict | None:
        i, seed = key if isinstance(key, tuple) else (key, None)
        d = self.data[i]
        try:
            img = self.cache[i] if self.cache is not None else decode_rgb(d.impath)
        except OSError as e:
            if self.skip_bad:
                logger.warning("Skipping unreadable image %s: %s", d.impath, e)
                return None
            raise RuntimeError(f"Cannot read image {d.impath}: {e}. Replace the file, or set "
                               "DATALOADER.ON_BAD_IMAGE skip to leave such images out (they are counted).") from e
        if seed is None:
            img = self.transform(img)
        else:  # the transforms draw from the CPU generator: seed it, and leave the caller's stream as it was
            # (not torch.manual_seed: with CUDA built in but not started, it also queues a seeding of every
            # device, formatting a stack trace each time: ~1 ms per image)
            state = torch.default_generator.get_state()
            torch.default_generator.manual_seed(seed)
            try:
                img = self.transform(img)
            finally:
                torch.default_generator.set_state(state)
        return {"img": img, "label": d.label, "domain": self.domain_index[d.domain]}


def collate_skipping(items: list[dict | None], normalize: BatchNormalize | None = None) -> dict:
    """Default collation of the readable items, with ``"skipped"``: how many were not; ``normalize``
    turns the stacked uint8 images into normalised float32."""
    good = [x for x in items if x is not None]
    batch = default_collate(good) if good else {}
    if good and normalize is not None:
        batch["img"] = normalize(batch["img"])
    batch["skipped"] = torch.tensor(len(items) - len(good))
    return batch


class Collate:
    """``collate_skipping`` with batch normalisation, as a picklable object for worker processes.
    With ``in_workers=False`` the images stay uint8 and the consumer applies ``normalize`` after
    moving them to its device."""

    def __init__(self, normalize: BatchNormalize, in_workers: bool = True):
        self.normalize = normalize
        self.in_workers = in_workers

    def __call__(self, items: list[dict | None]) -> dict:
        return collate_skipping(items, self.normalize if self.in_workers else None)


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask: taskset, cgroups, Slurm)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def training_threads(cfg) -> int:
    """The CPU threads the training step keeps busy: torch's intra-op threads on the CPU, one on a GPU
    (the thread that queues its kernels)."""
    return 1 if normalizes_on_device(cfg) else torch.get_num_threads()


def resolve_num_workers(num_workers: int, train_threads: int = 1) -> int:
    """``DATALOADER.NUM_WORKERS``, where -1 (auto) is this process's share of the CPUs less the
    ``train_threads`` training keeps busy, at most 8 (more rarely helps and costs memory). On a CPU
    whose cores all compute the step, that is 0: the main process decodes between steps, instead of
    workers taking cores from the step."""
    if num_workers >= 0:
        return num_workers
    return max(0, min(8, available_cpus() // get_local_world_size() - train_threads))


def memory_available() -> int | None:
    """Bytes of memory available to new allocations (Linux's MemAvailable), None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        return None


def cache_budget() -> int:
    """Bytes ``DATALOADER.CACHE auto`` may fill: a quarter of the available memory, shared by this
    machine's training processes (each holds its own cache)."""
    return (memory_available() or 0) // 4 // get_local_world_size()


def cache_plan(cfg, num_train: int | None, num_eval: int) -> tuple[bool, bool]:
    """Whether the training and the evaluation images are kept decoded, each after its resize.
    ``DATALOADER.CACHE`` True: both; False: neither; auto: the evaluation images when ``num_eval``
    uint8 images of ``INPUT.SIZE`` fit ``cache_budget()``, and the training images too when all fit.
    ``num_train`` is None when the training pipeline starts with a random crop: its input is the
    full decoded image, whose size is not known before decoding, so auto leaves it out. The decision
    and the numbers are logged."""
    mode = cfg.DATALOADER.CACHE
    if mode != "auto":
        return bool(mode), bool(mode)
    h, w = cfg.INPUT.SIZE
    image, budget = 3 * h * w, cache_budget()
    eval_fits = num_eval * image <= budget
    logger.info("DATALOADER.CACHE auto: the %d evaluation images need %.1f MB decoded at %dx%d, the budget is "
                "%.1f MB (a quarter of the available memory): %s", num_eval, num_eval * image / 2 ** 20, h, w,
                budget / 2 ** 20, "decoded once and kept" if eval_fits else "decoded at every evaluation")
    if num_train is None:
        logger.info("DATALOADER.CACHE auto: the training images are cropped at random from the full image "
                    "(random_resized_crop): decoded at every epoch (DATALOADER.CACHE True keeps them whole)")
        return False, eval_fits
    train_fits = eval_fits and (num_eval + num_train) * image <= budget
    logger.info("DATALOADER.CACHE auto: the %d training images need %.1f MB more after their resize: %s",
                num_train, num_train * image / 2 ** 20,
                "decoded once and kept (augmented at every step)" if train_fits else "decoded at every epoch")
    return train_fits, eval_fits


def normalizes_on_device(cfg) -> bool:
    """Whether the training loader hands over uint8 images, normalised on the GPU by the trainer
    (``DGTrainer.run_step``): a quarter of float32's bytes through PCIe, and no float work in the workers."""
    return bool(cfg.USE_CUDA) and torch.cuda.is_available()


def _loader(cfg, data: list[Datum], transform, dataset: DGDataset, batch_size: int, sampler=None,
            train: bool = False, cache: bool = False) -> DataLoader:
    """``cache``: keep ``data`` decoded in memory; an evaluation set (``train=False``) is stored after
    its deterministic ``transform`` and read by the main process (no decoding is left for workers)."""
    workers = resolve_num_workers(cfg.DATALOADER.NUM_WORKERS, training_threads(cfg))
    skip_bad = cfg.DATALOADER.ON_BAD_IMAGE == "skip"
    decoded = None
    if cache:
        if train:  # kept after the resize (when the pipeline starts with one), augmented at every step
            stored, transform = split_resize(transform)
        else:  # kept after the whole (deterministic) pipeline: nothing is left for workers to do
            stored, transform, workers = transform, v2.Identity(), 0
        decoded = DecodedImages(data, threads=min(8, available_cpus()), transform=stored)
        if decoded.errors and not skip_bad:  # fail now, naming the file, as reading it would
            DatumDataset(data, transform, dataset.domains, cache=decoded)[min(decoded.errors)]
    cache = decoded
    if sampler is None and get_world_size() > 1:  # evaluation: each process a disjoint shard
        sampler = ShardSampler(len(data), get_world_size(), get_rank())
    return DataLoader(
        DatumDataset(data, transform, dataset.domains, skip_bad=skip_bad, cache=cache),
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        collate_fn=Collate(BatchNormalize.from_config(cfg), in_workers=not (train and normalizes_on_device(cfg))),
        pin_memory=cfg.USE_CUDA and torch.cuda.is_available(),  # page-locked: async host-to-GPU copies
        persistent_workers=workers > 0,  # started once per run, not at every epoch and evaluation
        prefetch_factor=cfg.DATALOADER.PREFETCH_FACTOR if workers > 0 else None,
        # its own generator: creating an iterator must not draw from the global RNG (exact resume)
        generator=torch.Generator().manual_seed(cfg.SEED),
        # training drops the ragged last batch (BN on a batch of one fails); evaluation keeps every image
        drop_last=train and len(data) > batch_size,
    )


@phase("data set-up")
def build_data_loaders(cfg, dataset: DGDataset) -> tuple[DataLoader, dict[str, DataLoader], dict[str, DataLoader]]:
    """The training loader over all source domains, and one evaluation loader per domain for
    source validation and for each target domain (domains are never pooled in evaluation).

    Under DDP each process loads its own shard: training batches of ``BATCH_SIZE`` (per process;
    the effective batch is N times that), and a disjoint part of every evaluation set."""
    if cfg.DATALOADER.VERIFY_IMAGES:  # every unreadable image now, not when the sampler reaches it
        verify_images([dataset.train_x, *dataset.val.values(), *dataset.test.values()],
                      cfg.DATALOADER.ON_BAD_IMAGE, threads=min(8, available_cpus()))
    train_tf = build_transform(cfg, is_train=True, normalize=False)
    test_tf = build_transform(cfg, is_train=False, normalize=False)
    bs = cfg.DATALOADER.TRAIN_X.BATCH_SIZE
    world = get_world_size()
    if bs * world > len(dataset.train_x):
        per = f"{bs} per process x {world} processes" if world > 1 else str(bs)
        raise ValueError(f"DATALOADER.TRAIN_X.BATCH_SIZE ({per}) is larger than the training set "
                         f"({len(dataset.train_x)} images of {', '.join(dataset.source_domains)}); lower it")
    sampler = build_train_sampler(cfg, dataset.train_x, bs, world, get_rank())
    resized_first = split_resize(train_tf)[0] is not None
    cache_train, cache_eval = cache_plan(cfg, len(dataset.train_x) if resized_first else None,
                                         sum(len(v) for v in (*dataset.val.values(), *dataset.test.values())))
    train = _loader(cfg, dataset.train_x, train_tf, dataset, bs, sampler, train=True, cache=cache_train)
    test_bs = cfg.DATALOADER.TEST.BATCH_SIZE
    val = {d: _loader(cfg, data, test_tf, dataset, test_bs, cache=cache_eval) for d, data in dataset.val.items()}
    test = {d: _loader(cfg, data, test_tf, dataset, test_bs, cache=cache_eval) for d, data in dataset.test.items()}
    caches = [ld.dataset.cache for ld in (train, *val.values(), *test.values()) if ld.dataset.cache is not None]
    if caches:
        logger.info("DATALOADER.CACHE: %d decoded images in memory (%.1f MB)", sum(len(c.shapes) for c in caches),
                    sum(c.nbytes for c in caches) / 2 ** 20)
    return train, val, test
