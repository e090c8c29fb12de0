"""Count the host-device synchronisations of one training step on a CUDA device.

    python tools/gpu_syncs.py --config-file configs/digits_dg_advstyle_slim.yaml [KEY VALUE ...]

Builds the trainer of the config, takes ``--warmup`` steps (cudnn autotuning, compilation, lazy
initialisation), then ``--steps`` steps under ``torch.cuda.set_sync_debug_mode("warn")``, which
warns at every synchronising call, and prints one line: the trainer, the options, and the
synchronisations counted per step (with the first few call sites). Used by tools/gpu_smoke.sh.
"""
from __future__ import annotations

import argparse
import collections
import itertools
import os
import sys
import traceback
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from slim_dg.config import get_cfg_defaults, merge_from_file, merge_from_list, validate_cfg  # noqa: E402
from slim_dg.engine import build_trainer  # noqa: E402
from slim_dg.engine.process import set_determinism  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config-file", required=True)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("opts", nargs=argparse.REMAINDER)
    args = p.parse_args()
    if not torch.cuda.is_available():
        sys.exit("gpu_syncs.py needs a CUDA device (torch.cuda.is_available() is False)")
    cfg = get_cfg_defaults()
    merge_from_file(cfg, args.config_file)
    merge_from_list(cfg, args.opts)
    validate_cfg(cfg)
    cfg.freeze()
    set_determinism(cfg)  # cuDNN autotuning, as in training
    trainer = build_trainer(cfg)
    trainer.model.train()
    batches = itertools.cycle(itertools.islice(trainer.train_loader, args.warmup + args.steps))
    for _ in range(args.warmup):
        trainer.run_step(next(batches))
    torch.cuda.synchronize()
    sites: collections.Counter = collections.Counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            for _ in range(args.steps):
                trainer.iter += 1  # as the loop does: the finiteness check falls on its own steps
                trainer.run_step(next(batches))
        finally:
            torch.cuda.set_sync_debug_mode("default")
    for w in caught:
        if "synchroniz" in str(w.message):
            sites[f"{os.path.basename(w.filename)}:{w.lineno}"] += 1
    total = sum(sites.values())
    print(f"SYNCS {cfg.TRAINER.NAME} {' '.join(args.opts)}: {total / args.steps:.1f} per step "
          f"({total} in {args.steps} steps, PRINT_FREQ {cfg.TRAIN.PRINT_FREQ}); "
          f"sites: {dict(sites.most_common(5))}")


if __name__ == "__main__":
    try:
        main()
    except Exception:
        traceback.print_exc()
        sys.exit(1)
