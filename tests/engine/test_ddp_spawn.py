"""DDP internals with 2 gloo processes on CPU (torch.multiprocessing.spawn), issue 9: the real
trainers step in sync (one set of weights everywhere, through stage edits, taps and the adversaries'
extra forwards), evaluation gives every process rank 0's BN statistics, and the all-reduced
per-domain counts equal one process evaluating the same weights."""
from __future__ import annotations

import itertools
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from slim_dg.engine import build_trainer
from slim_dg.utils.distributed import get_world_size, is_distributed, unwrap
from slim_dg.utils.seed import set_seed

from cfg_testutils import digits_cfg

pytestmark = pytest.mark.slow  # DDP: 2 processes (mp.spawn)

WORLD = 2
CASES = {  # config, overrides
    "FeatAdvStyleSLIM": ("digits_dg_featadvstyle_slim.yaml", ["ADV.BN_MODE", "eval", "ADV.RANDOM_START", "0.5"]),
    "ERM-amp-channels_last": ("digits_dg_erm.yaml", ["TRAIN.AMP", "True", "TRAIN.CHANNELS_LAST", "True"]),
}


def _cfg(case: str, digits_root: str, out: str):
    config, opts = CASES[case]
    return digits_cfg(digits_root, config, "OUTPUT_DIR", out, "MODEL.BACKBONE.NAME", "resnet10t",
                      "DATALOADER.TRAIN_X.BATCH_SIZE", "8", "DATALOADER.TEST.BATCH_SIZE", "40", "OPTIM.LR", "0.01",
                      *opts)


def _worker(rank: int, case: str, digits_root: str, tmp: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{tmp}/store", rank=rank, world_size=WORLD)
    try:
        assert is_distributed() and get_world_size() == WORLD
        set_seed(1 + rank)  # as tools/train.py does: DDP must make the initial weights equal anyway
        trainer = build_trainer(_cfg(case, digits_root, os.path.join(tmp, "out")))
        assert type(trainer.model).__name__ == "DistributedDataParallel" and trainer.model.backbone is not None
        for batch in itertools.islice(trainer.epoch_batches(), 3):
            trainer.run_step(batch)
        model = unwrap(trainer.model)
        params = torch.cat([p.detach().flatten() for p in model.parameters()])
        gathered = [torch.empty_like(params) for _ in range(WORLD)]
        dist.all_gather(gathered, params)
        assert torch.equal(gathered[0], gathered[1]), "DDP processes hold different weights"
        stats = torch.cat([b.flatten().float() for n, b in model.named_buffers() if "running_mean" in n])
        dist.all_gather(gathered_stats := [torch.empty_like(stats) for _ in range(WORLD)], stats)
        assert not torch.equal(*gathered_stats), "each process should hold the BN statistics of its own batches"
        results = trainer.evaluate()
        stats = torch.cat([b.flatten().float() for n, b in model.named_buffers() if "running_mean" in n])
        dist.all_gather(gathered_stats, stats)
        assert torch.equal(*gathered_stats), "evaluation must use rank 0's BN statistics everywhere"
        if rank == 0:
            torch.save({"model": model.state_dict(), "results": results}, os.path.join(tmp, "rank0.pt"))
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("case", list(CASES))
def test_ddp_steps_in_sync_and_evaluates_like_one_process(case, digits_root, tmp_path):
    mp.spawn(_worker, args=(case, digits_root, str(tmp_path)), nprocs=WORLD, join=True)
    saved = torch.load(tmp_path / "rank0.pt", weights_only=True)
    set_seed(1)
    single = build_trainer(_cfg(case, digits_root, str(tmp_path / "single")))  # no process group: one process
    assert not is_distributed()
    single.model.load_state_dict(saved["model"])
    want = single.evaluate()
    assert want == saved["results"]  # every domain: the same accuracy from the same counts
    assert want["target"]["texture"]["num_samples"] == 449
