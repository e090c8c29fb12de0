"""DDP that cannot stall (issue 20 item 4, issue 22 item 3), 2 gloo processes on CPU.

With ``DATALOADER.ON_BAD_IMAGE skip`` one process's batch can be empty (every image unreadable)
or a single image (train-mode BN fails on it). Alone, that process would skip its step while the
other waits in backward's all-reduce forever; the processes now decide together, so every one
takes the same steps and the weights stay equal. A process that dies makes the other exit within
seconds with a message, not after the 30-minute collective timeout.
"""
from __future__ import annotations

import datetime
import os
import time

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from slim_dg.engine import build_trainer
from slim_dg.utils.distributed import all_gather_object, unwrap

from cfg_testutils import digits_cfg

pytestmark = pytest.mark.slow  # DDP: 2 processes (mp.spawn)

WORLD = 2


def _init(rank: int, tmp: str) -> None:
    # a short timeout: were the step to stall, the test fails in a minute instead of hanging
    dist.init_process_group("gloo", init_method=f"file://{tmp}/store", rank=rank, world_size=WORLD,
                            timeout=datetime.timedelta(seconds=60))


def _batches(trainer, n: int) -> list[dict]:
    return [{k: v for k, v in b.items() if k != "skipped"} for b in list(trainer.epoch_batches())[:n]]


def _shrink(batch: dict, keep: int) -> dict:
    """``batch`` as if all but ``keep`` of its images had been unreadable."""
    skipped = torch.tensor(len(batch["label"]) - keep)
    return {"skipped": skipped} if keep == 0 else {**{k: v[:keep] for k, v in batch.items()}, "skipped": skipped}


# per step, how many readable images each process gets (8 = all): uneven, empty, and single-image batches
PLAN = [(8, 8), (8, 0), (1, 8), (3, 8), (0, 0), (8, 5)]
TRAINED = [True, False, False, True, False, True]


def _worker(rank: int, digits_root: str, tmp: str) -> None:
    _init(rank, tmp)
    try:
        torch.manual_seed(1 + rank)
        trainer = build_trainer(digits_cfg(digits_root, "digits_dg_erm.yaml", "OUTPUT_DIR", os.path.join(tmp, "out"),
                                           "MODEL.BACKBONE.NAME", "resnet10t", "DATALOADER.TRAIN_X.BATCH_SIZE", "8",
                                           "DATALOADER.NUM_WORKERS", "0", "DATALOADER.ON_BAD_IMAGE", "skip"))
        batches = _batches(trainer, len(PLAN))
        trained = [bool(trainer.run_step(_shrink(b, keep[rank]))) for b, keep in zip(batches, PLAN)]
        assert trained == TRAINED, trained
        params = torch.cat([p.detach().flatten() for p in unwrap(trainer.model).parameters()])
        everyone = all_gather_object(params)
        assert torch.equal(everyone[0], everyone[1]), "the processes hold different weights"
        assert all_gather_object(trainer.skipped_images) == [sum(8 - k[0] for k in PLAN), sum(8 - k[1] for k in PLAN)]
    finally:
        dist.destroy_process_group()


def test_unreadable_batches_on_one_process_skip_the_step_everywhere(digits_root, tmp_path):
    mp.spawn(_worker, args=(digits_root, str(tmp_path)), nprocs=WORLD, join=True)


def _dying_worker(rank: int, digits_root: str, tmp: str) -> None:
    _init(rank, tmp)
    trainer = build_trainer(digits_cfg(digits_root, "digits_dg_erm.yaml", "OUTPUT_DIR", os.path.join(tmp, "out"),
                                       "MODEL.BACKBONE.NAME", "resnet10t", "DATALOADER.TRAIN_X.BATCH_SIZE", "8",
                                       "DATALOADER.NUM_WORKERS", "0"))
    batches = _batches(trainer, 2)
    trainer.run_step(batches[0])
    if rank == 1:
        os._exit(3)  # as a killed or crashed process would: no goodbye to the others
    start = time.monotonic()
    try:
        trainer.run_step(batches[1])  # backward waits for the dead process's gradients
        outcome = "returned"
    except Exception as e:  # noqa: BLE001 -- the test is what ends the wait, and how fast
        outcome = f"{type(e).__name__}: {e}"
    with open(os.path.join(tmp, "rank0.txt"), "w") as f:
        f.write(f"{time.monotonic() - start:.1f}\n{outcome}")
    os._exit(0)


def test_a_dead_process_ends_the_others_wait_within_seconds(digits_root, tmp_path):
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_dying_worker, args=(r, digits_root, str(tmp_path))) for r in range(WORLD)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    alive = [p for p in procs if p.is_alive()]
    for p in alive:
        p.kill()
    assert not alive, "a process stalled after its peer died"
    waited, outcome = open(tmp_path / "rank0.txt").read().split("\n", 1)
    assert outcome != "returned" and float(waited) < 30, (waited, outcome)
