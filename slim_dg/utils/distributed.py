"""Multi-process training with ``torchrun`` (DDP): the process group and the few collectives we need.

``torchrun --nproc_per_node N tools/train.py ...`` starts N processes with ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` and ``MASTER_ADDR/PORT`` in their environment; ``init_distributed`` joins them into
one process group (nccl between GPUs, gloo on CPU). Every helper below is also correct in a plain
single process, where it does nothing, so callers never branch on "distributed or not".
"""
from __future__ import annotations

import datetime
import logging
import os

import torch
import torch.distributed as dist
from torch import nn

from ..config.load import ConfigError

logger = logging.getLogger(__name__)


def env_world_size() -> int:
    """The world size ``torchrun`` announced (1 when started without it)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def get_local_world_size() -> int:
    """Processes on this machine (they share its CPUs and GPUs)."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", str(get_world_size()))) if is_distributed() else 1


def local_cuda_index() -> int:
    """This process's GPU: ``LOCAL_RANK``. Fewer visible GPUs than processes on this machine would put
    two processes on one GPU (slow at best, an NCCL error at worst): refused, naming the counts."""
    local_rank, visible = int(os.environ.get("LOCAL_RANK", "0")), torch.cuda.device_count()
    if local_rank >= visible:
        raise ConfigError(f"Process LOCAL_RANK {local_rank} has no GPU of its own: {visible} visible "
                           f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}). Start at "
                           f"most {visible} process(es) per machine (torchrun --nproc_per_node {visible}), "
                           "or USE_CUDA False")
    return local_rank


def is_main_process() -> bool:
    """Only the main process writes logs, checkpoints, TensorBoard events and ``results.json``."""
    return get_rank() == 0


def init_distributed(use_cuda: bool) -> bool:
    """Join the process group ``torchrun`` set up (when ``WORLD_SIZE`` > 1); returns whether it did.
    With CUDA each process takes GPU ``LOCAL_RANK`` and talks nccl; without, gloo."""
    if env_world_size() <= 1 or is_distributed():
        return is_distributed()
    cuda = use_cuda and torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(local_cuda_index())
    # a generous timeout: rank 0 may build a dataset cache or evaluate while the others wait
    dist.init_process_group("nccl" if cuda else "gloo", timeout=datetime.timedelta(minutes=30))
    logger.info("Process %d of %d (%s)", dist.get_rank(), dist.get_world_size(), dist.get_backend())
    return True


def destroy_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def all_reduce_sum(values: list[int], device: torch.device) -> list[int]:
    """Element-wise sum over processes of a list of integers (exact: int64)."""
    if not is_distributed():
        return list(values)
    t = torch.tensor(values, dtype=torch.int64, device=_collective_device(device))
    dist.all_reduce(t)
    return [int(v) for v in t.tolist()]


def any_process(flag: bool, device: torch.device) -> bool:
    """Whether ``flag`` is true in at least one process (e.g. one of them received SIGTERM)."""
    return bool(all_reduce_sum([int(flag)], device)[0]) if is_distributed() else flag


def all_processes(flag: bool, device: torch.device) -> bool:
    """Whether ``flag`` is true in every process (e.g. each has a batch it can train on)."""
    return not any_process(not flag, device)


def all_gather_object(obj) -> list:
    """``[obj of rank 0, obj of rank 1, ...]`` (``[obj]`` in a single process)."""
    if not is_distributed():
        return [obj]
    out: list = [None] * get_world_size()
    dist.all_gather_object(out, obj)
    return out


@torch.no_grad()
def broadcast_buffers(model: nn.Module, device: torch.device) -> None:
    """Give every process rank 0's buffers (BN running statistics). DDP syncs them only before each
    training forward, so after a step each process holds the statistics of its own batch; evaluation
    and checkpoints must all see the same model."""
    if not is_distributed():
        return
    for buf in model.buffers():
        if _collective_device(device).type == buf.device.type:
            dist.broadcast(buf, 0)
        else:  # gloo cannot broadcast a CUDA tensor and nccl no CPU one
            tmp = buf.to(_collective_device(device))
            dist.broadcast(tmp, 0)
            buf.copy_(tmp)


def _collective_device(device: torch.device) -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


class DistributedDataParallel(nn.parallel.DistributedDataParallel):
    """DDP that lets the wrapped model's attributes through (``model.backbone``, ``model.head``), so
    adversaries, taps and stage edits use it like the bare model while forwards still go through
    DDP (which is what makes ``backward`` all-reduce the gradients)."""

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "module":
                raise
            return getattr(self.module, name)


def unwrap(model: nn.Module) -> nn.Module:
    """The bare model inside a DDP wrapper (the model itself otherwise): its state dict has no
    ``module.`` prefix, so checkpoints load in any number of processes."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
