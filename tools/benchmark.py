#!/usr/bin/env python
"""Time one training step of several trainers side by side, in one process.

Every trainer gets the same batch, the same backbone and the same initial weights; steps are
interleaved round-robin (so drift in machine load hits all trainers alike), warm-up steps are
excluded, and the median is reported with the ratios ``X_SLIM / X`` and ``X / ERM``.

    python tools/benchmark.py --methods erm advstyle advstyle_slim --batch-size 32 --repeats 20 --json bench.json

Each method is the experiment config ``configs/<dataset>_<method>.yaml``, so the trainers run
with exactly the settings a user trains with.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time

import torch

from slim_dg.data import DATASET_REGISTRY
from slim_dg.engine import build_trainer
from slim_dg.engine.launch import parse_args as parse_train_args
from slim_dg.engine.launch import setup_cfg
from slim_dg.utils.logger import setup_logging
from slim_dg.utils.seed import set_seed

METHODS = ["erm", "advstyle", "advstyle_slim", "pgd", "pgd_slim", "featadvstyle", "featadvstyle_slim"]
CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="digits_dg", help="configs/<dataset>_<method>.yaml are benchmarked")
    p.add_argument("--methods", nargs="+", default=METHODS)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--target-domains", nargs="+", default=None)
    p.add_argument("--json", default="", help="also write the results here")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE overrides for every trainer")
    return p.parse_args()


def trainer_cfg(args, method: str, out_dir: str):
    """The config tools/train.py would run for configs/<dataset>_<method>.yaml (same set-up code)."""
    targets = args.target_domains or [DATASET_REGISTRY.get(args.dataset).domains[-1]]
    return setup_cfg(parse_train_args([
        "--config-file", os.path.join(CONFIGS, f"{args.dataset}_{method}.yaml"), "--target-domains", *targets,
        "--output-dir", os.path.join(out_dir, method),
        "DATALOADER.TRAIN_X.BATCH_SIZE", str(args.batch_size), "DATALOADER.NUM_WORKERS", "0", *args.opts]))


def main():
    args = parse_args()
    setup_logging(None)
    with tempfile.TemporaryDirectory() as out_dir:
        trainers = {}
        for method in args.methods:
            set_seed(0)  # same initial weights for every trainer
            cfg = trainer_cfg(args, method, out_dir)
            trainers[cfg.TRAINER.NAME] = build_trainer(cfg)
        first = next(iter(trainers.values()))
        batch = next(iter(first.train_loader))
        times = {n: [] for n in trainers}
        for i in range(args.warmup + args.repeats):
            for name, t in trainers.items():
                if t.device.type == "cuda":
                    torch.cuda.synchronize()
                tic = time.perf_counter()
                t.run_step(batch)
                if t.device.type == "cuda":
                    torch.cuda.synchronize()
                if i >= args.warmup:
                    times[name].append(time.perf_counter() - tic)
    med = {n: statistics.median(v) for n, v in times.items()}
    ratios = {}
    for n in med:
        if n.endswith("SLIM") and n[:-4] in med:
            ratios[f"{n}/{n[:-4]}"] = med[n] / med[n[:-4]]
        if n != "ERM" and "ERM" in med:
            ratios[f"{n}/ERM"] = med[n] / med["ERM"]
    cfg = next(iter(trainers.values())).cfg
    report = {
        "backbone": cfg.MODEL.BACKBONE.NAME, "input_size": list(cfg.INPUT.SIZE), "batch_size": args.batch_size,
        "device": str(first.device), "torch_threads": torch.get_num_threads(), "cpu": platform.processor(),
        "repeats": args.repeats, "warmup": args.warmup,
        "step_time_s": {n: {"median": med[n], "min": min(times[n]), "max": max(times[n])} for n in med},
        "ratios": ratios,
    }
    print(f"\n{'trainer':<18} {'median step (ms)':>17} {'min':>8} {'max':>8}")
    for n in med:
        print(f"{n:<18} {1e3 * med[n]:17.1f} {1e3 * min(times[n]):8.1f} {1e3 * max(times[n]):8.1f}")
    print("\nratios (median step time)")
    for k, v in ratios.items():
        print(f"  {k:<28} {v:.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return report


if __name__ == "__main__":
    main()
