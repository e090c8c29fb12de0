"""``DGTrainer``: builds data, model and optimizer from the config and runs one step.

A method subclasses it and implements ``compute_losses``; it builds no optimizer and steps no
scheduler. The single ``run_step`` sums the losses, checks they are finite, and steps.

Speed and scale are options of this one step, not other trainers: ``compute_losses`` runs under
autocast (``TRAIN.AMP``; a ``GradScaler`` for float16), batches and model in ``TRAIN.CHANNELS_LAST``,
the model optionally compiled (``TRAIN.COMPILE``), and under ``torchrun`` wrapped in DDP, whose
wrapper lets the model's attributes through, so ``self.model.backbone`` works either way.
"""
from __future__ import annotations

import contextlib
import itertools
import logging
import time

import torch

from ..config.hashing import config_hash
from ..data import build as data_build
from ..evaluation import evaluate_domains
from .. import modeling
from ..modeling import cpu_layout
from ..utils.distributed import (DistributedDataParallel, all_gather_object, all_processes, broadcast_buffers,
                                 get_rank, get_world_size, is_distributed, local_cuda_index, unwrap)
from ..utils.seed import set_seed
from .checkpoint import find_checkpoint, get_rng_state, load_checkpoint, load_newest_valid, set_rng_state
from .hooks import default_hooks
from .results import run_provenance, write_run_results
from . import optim
from .train_loop import HookBase, TrainerBase

logger = logging.getLogger(__name__)

AMP_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}
MIN_TRAIN_BATCH = 2  # train-mode batch norm needs two values per channel (a 1x1 map of one image has one)


def select_device(cfg) -> torch.device:
    """``USE_CUDA`` (auto): this process's GPU when there is one (``LOCAL_RANK``'s under torchrun), else the CPU."""
    if not (cfg.USE_CUDA and torch.cuda.is_available()):
        return torch.device("cpu")
    return torch.device("cuda", local_cuda_index() if is_distributed() else torch.cuda.current_device())


def autocast_dtype(cfg, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of ``TRAIN.AMP`` on ``device``, or None when AMP is off."""
    if not cfg.TRAIN.AMP:
        return None
    dtype = AMP_DTYPES[cfg.TRAIN.AMP_DTYPE]
    if dtype is torch.float16 and device.type != "cuda":
        raise ValueError("TRAIN.AMP_DTYPE float16 needs a GPU (its loss scaling is CUDA's GradScaler); "
                         "on a CPU use TRAIN.AMP_DTYPE bfloat16, or TRAIN.AMP False")
    return dtype


class DGTrainer(TrainerBase):
    """Built in one order from the config: device and AMP, then ``build_data_loaders``,
    ``build_model``, ``build_optimizer`` and ``build_hooks``; a method or a test overrides those."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.device = select_device(cfg)
        self.amp_dtype = autocast_dtype(cfg, self.device)
        self.memory_format = torch.channels_last if cfg.TRAIN.CHANNELS_LAST else torch.contiguous_format
        self.build_data_loaders()
        model = self.build_model().to(self.device, memory_format=self.memory_format)
        early_channels_last = self.use_cpu_layout(model)
        if cfg.TRAIN.COMPILE:
            model.compile()  # in place: the state dict keeps its keys
        self.optimizer = self.build_optimizer(model)
        self.scheduler = optim.build_lr_scheduler(cfg, self.optimizer)
        # float16 needs loss scaling (bfloat16 has float32's range); disabled, it steps plainly
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype is torch.float16)
        if is_distributed():  # one GPU (or the CPU) per process; gradients all-reduced in backward
            model = DistributedDataParallel(model, device_ids=[self.device.index] if self.device.type == "cuda"
                                            else None)
        self.model = model
        logger.info("Device %s%s%s%s%s%s", self.device, f", AMP {cfg.TRAIN.AMP_DTYPE}" if self.amp_dtype else "",
                    ", channels_last" if cfg.TRAIN.CHANNELS_LAST else "",
                    f", activations channels-last through {early_channels_last}" if early_channels_last else "",
                    ", compiled" if cfg.TRAIN.COMPILE else "",
                    f", DDP over {get_world_size()} processes" if is_distributed() else "")
        self.iters_per_epoch = len(self.train_loader)
        if cfg.TRAIN.MAX_ITERS_PER_EPOCH > 0:
            self.iters_per_epoch = min(self.iters_per_epoch, cfg.TRAIN.MAX_ITERS_PER_EPOCH)
        self.skipped_images = 0  # unreadable training images left out (DATALOADER.ON_BAD_IMAGE skip)
        self.skip_bad_images = cfg.DATALOADER.ON_BAD_IMAGE == "skip"
        self._unchecked: tuple = ()  # (iteration, epoch, total, losses) of steps whose losses are not yet checked finite
        self.results: dict = {}  # results.json, once written (ResultsHook, test)
        self.register_hooks(self.build_hooks())

    def build_data_loaders(self) -> None:
        """Sets ``dataset``, ``train_loader``, ``val_loaders`` and ``test_loaders`` (name -> loader)."""
        cfg = self.cfg
        self.dataset = data_build.build_dataset(cfg)
        self.train_loader, self.val_loaders, self.test_loaders = data_build.build_data_loaders(cfg, self.dataset)
        logger.info("Data: %d training images from %s; source val %s; targets %s", len(self.dataset.train_x),
                    cfg.DATASET.SOURCE_DOMAINS, {d: len(v) for d, v in self.dataset.val.items()},
                    {d: len(v) for d, v in self.dataset.test.items()})

    def build_model(self) -> torch.nn.Module:
        """The classifier (``__init__`` moves it to the device and memory format, then compiles it)."""
        return modeling.build_model(self.cfg, self.dataset.num_classes)

    def use_cpu_layout(self, model: torch.nn.Module) -> str | None:
        """``TRAIN.CPU_EARLY_CHANNELS_LAST``: on the CPU, the early stages' activations channels-last
        (``modeling.cpu_layout``). Returns the last such stage's name, or None."""
        cfg = self.cfg
        backbone = getattr(model, "backbone", None)
        if (self.device.type != "cpu" or not cfg.TRAIN.CPU_EARLY_CHANNELS_LAST or cfg.TRAIN.CHANNELS_LAST
                or cfg.TRAIN.COMPILE or not isinstance(backbone, modeling.TimmBackbone)):
            return None
        return cpu_layout.use_early_channels_last(backbone, cfg.INPUT.SIZE)

    def build_optimizer(self, model: torch.nn.Module) -> torch.optim.Optimizer:
        return optim.build_optimizer(self.cfg, model.parameters())

    def build_hooks(self) -> list[HookBase | None]:
        """The hooks in the order they run (``hooks.default_hooks`` explains it). A subclass adds its own
        before the last entry, the writer, which must close TensorBoard after every other hook has logged."""
        return default_hooks(self.cfg, self.cfg.OUTPUT_DIR)

    # -- what a method implements -------------------------------------------------------------
    def compute_losses(self, batch: dict) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def step_metrics(self) -> dict[str, torch.Tensor]:
        """Tensors the writer logs with the losses (e.g. an adversary's counters); read at log steps only."""
        return {}

    # -- a run -------------------------------------------------------------------------------
    def train(self) -> dict:
        """Train from the state ``resume_or_load`` left (a finished run: its final evaluation only)
        to ``OPTIM.MAX_EPOCH``; returns ``results.json`` as the ``ResultsHook`` wrote it."""
        super().train(self.epoch, self.cfg.OPTIM.MAX_EPOCH, self.step_in_epoch)
        return self.results

    def test(self) -> dict:
        """``--eval-only``: evaluate the loaded weights once and write that as ``results.json``."""
        started, provenance = time.perf_counter(), run_provenance(self)
        self.results = write_run_results(self, [{"epoch": self.epoch, **self.evaluate()}], provenance, started)
        return self.results

    # -- the loop ------------------------------------------------------------------------------
    def epoch_batches(self):
        sampler = self.train_loader.sampler
        sampler.set_epoch(self.epoch)
        sampler.set_start(self.step_in_epoch * self.train_loader.batch_size)
        return itertools.islice(self.train_loader, max(0, self.iters_per_epoch - self.step_in_epoch))

    def run_step(self, batch: dict) -> dict[str, float]:
        assert self.model.training, "run_step needs the model in train mode"
        self.skipped_images += int(batch.pop("skipped", 0))
        if not self._trainable_everywhere(batch):
            return {}
        batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        if batch["img"].dtype == torch.uint8:  # a GPU's loader hands over uint8 (normalizes_on_device)
            batch["img"] = self.train_loader.collate_fn.normalize(batch["img"])
        if self.memory_format is not torch.contiguous_format:
            batch["img"] = batch["img"].contiguous(memory_format=self.memory_format)
        with self.autocast():
            losses = self.compute_losses(batch)
        total = sum(losses.values())
        # checked later, in one synchronisation (check_finite): asking now would stall the device every step
        self._unchecked += ((self.iter, self.epoch, total.detach(), {k: v.detach() for k, v in losses.items()}),)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()  # disabled scaler: total itself, and a plain step below
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if len(self._unchecked) >= self.cfg.TRAIN.PRINT_FREQ:
            self.check_finite()
        return {"loss": total.detach(), **{k: v.detach() for k, v in losses.items()}, **self.step_metrics()}

    def _trainable_everywhere(self, batch: dict) -> bool:
        """Whether every process has a batch to train on. With ``DATALOADER.ON_BAD_IMAGE skip`` a
        batch can shrink to nothing, or to one image (train-mode BN fails on it); under DDP the
        processes must then skip the step together, or the others wait in backward's all-reduce."""
        if not self.skip_bad_images:
            return True  # full batches only (the loader drops the ragged last one)
        trainable = "img" in batch and len(batch["img"]) >= MIN_TRAIN_BATCH
        if is_distributed():
            trainable = all_processes(trainable, self.device)
        if not trainable:
            logger.warning("Step %d skipped%s: too few readable images (fewer than %d)", self.iter,
                           " by every process" if is_distributed() else "", MIN_TRAIN_BATCH)
        return trainable

    def check_finite(self) -> None:
        """Raise ``FloatingPointError`` naming the first step whose loss was not finite, if any since the
        last check. Called every ``TRAIN.PRINT_FREQ`` steps and before every checkpoint and evaluation,
        so no checkpoint ever holds weights stepped with a non-finite loss."""
        if not self._unchecked:
            return
        pending, self._unchecked = self._unchecked, ()
        finite = torch.isfinite(torch.stack([total.float() for *_, total, _ in pending])).tolist()  # one sync
        for ok, (it, epoch, _, losses) in zip(finite, pending):
            if not ok:
                raise FloatingPointError(f"Loss became non-finite at iteration {it} (epoch {epoch + 1}): "
                                         f"{ {k: v.item() for k, v in losses.items()} }")

    def autocast(self):
        """The autocast of ``TRAIN.AMP`` (a no-op context when it is off); methods may nest their own."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def evaluate(self) -> dict[str, dict]:
        """Per-domain accuracy on every target domain and every source validation split (under DDP
        each process evaluates a shard and the counts are summed, see ``evaluate_domain``)."""
        self.check_finite()
        model = unwrap(self.model)  # DDP's own forward would sync buffers: a collective per batch
        broadcast_buffers(model, self.device)  # every process evaluates rank 0's BN statistics
        kw = {"amp_dtype": self.amp_dtype, "memory_format": self.memory_format}
        return {"target": evaluate_domains(model, self.test_loaders, self.device, **kw),
                "source_val": evaluate_domains(model, self.val_loaders, self.device, **kw)}

    # -- checkpoint state (plain types and tensors only: loadable with weights_only=True) ------
    def resume_point(self) -> tuple[int, int]:
        """Where a checkpoint saved now resumes: (epochs done, steps done in the next epoch). The
        last step of an epoch completes it: (epoch + 1, 0)."""
        if self.finished:  # ``epoch`` already counts the last one
            return self.epoch, 0
        if self.step_in_epoch == self.iters_per_epoch:
            return self.epoch + 1, 0
        return self.epoch, self.step_in_epoch

    def resume_or_load(self, run_dir: str = "", which: str | None = None) -> str:
        """Continue from the run in ``run_dir`` (``--resume``; ``--eval-only --model-dir``): its
        checkpoint ``which`` (epoch N, 'best' or a file name in its checkpoints/), by default the
        newest readable one. With no ``run_dir`` this is a new run and nothing is loaded (its
        initial weights are ``build_model``'s). Returns the path loaded, or "".

        Checkpoints are read onto the CPU whatever the trainer's device: the random states in
        them must be CPU tensors (``torch.set_rng_state`` refuses CUDA ones), and ``load_state_dict``
        copies the model's and the optimizer's tensors onto the device their parameters live on."""
        if not run_dir:
            return ""
        if which is None:
            path, state = load_newest_valid(run_dir)
        else:
            path = find_checkpoint(run_dir, which)
            state = load_checkpoint(path)
        self.load_state_dict(state)
        logger.info("Loaded %s (%d epochs and %d steps done)", path, self.epoch, self.step_in_epoch)
        return path

    def state_dict(self) -> dict:
        """The checkpoint. Under DDP every process must call it: it gathers what differs between them
        (random states: the adversaries' random starts differ per process; skipped-image counts)."""
        self.check_finite()
        per_process = all_gather_object({"rng": get_rng_state(), "skipped_images": self.skipped_images})
        epoch, step_in_epoch = self.resume_point()
        return {
            "model": unwrap(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "epoch": epoch,
            "step_in_epoch": step_in_epoch,
            "iter": self.iter,
            "skipped_images": sum(p["skipped_images"] for p in per_process),
            "rng": per_process[0]["rng"],
            **({"per_process": per_process} if len(per_process) > 1 else {}),  # exact resume under DDP
            "scaler": self.scaler.state_dict(),
            "config_hash": config_hash(self.cfg),
            "hooks": {type(h).__name__: h.state_dict() for h in self.hooks if h.state_dict()},
            "extra": self.extra_state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        unwrap(self.model).load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        for group in self.optimizer.param_groups:  # this run's OPTIM.FUSED, not the checkpoint's (same update)
            group["fused"] = self.optimizer.defaults.get("fused")
        self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):  # empty when the run had no float16 loss scaling
            self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.step_in_epoch, self.iter = state["epoch"], state["step_in_epoch"], state["iter"]
        for h in self.hooks:
            if type(h).__name__ in state.get("hooks", {}):
                h.load_state_dict(state["hooks"][type(h).__name__])
        self.load_extra_state_dict(state.get("extra", {}))
        self._load_per_process(state)  # last: nothing above may draw from the random state

    def _load_per_process(self, state: dict) -> None:
        single = {"rng": state["rng"], "skipped_images": state.get("skipped_images", 0)}
        per_process = state.get("per_process", [single])
        if len(per_process) == get_world_size():
            self.skipped_images = per_process[get_rank()]["skipped_images"]
            set_rng_state(per_process[get_rank()]["rng"])
            return
        logger.warning("The checkpoint was written by %d process(es), this run has %d: training goes on, but its "
                       "random draws differ from the original run's", len(per_process), get_world_size())
        self.skipped_images = state.get("skipped_images", 0) if get_rank() == 0 else 0
        set_rng_state(state["rng"])
        if get_rank() > 0:  # processes must not share random starts
            set_seed(self.cfg.SEED + get_rank() + self.iter)

    def extra_state_dict(self) -> dict:
        """State of a method beyond model/optimizer (e.g. an adversary's RNG); plain types only."""
        return {}

    def load_extra_state_dict(self, state: dict) -> None: ...
