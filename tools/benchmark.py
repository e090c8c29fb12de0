#!/usr/bin/env python
"""Training throughput, side by side in one process: a bare timm loop, our trainers, and Dassl.

    (a) bare:   a hand-written timm loop (forward, cross-entropy, backward, step) on in-memory tensors
    (b) ERM:    our ERM ``run_step`` on the same tensors
    (c) ERM+io: our ERM fed by its own data loader (decoding, cache, augmentation, collation)
    (d) each adversary of ``--methods`` (default: every registered one), plain and SLIM, on the same tensors
    (e) Dassl:  Dassl's ``Vanilla`` (same backbone, data, batch size and loader workers) on the
                same tensors and fed by Dassl's own data loader, when Dassl is installed

All share the backbone, the batch, the optimizer settings, and our ERM config's ``TRAIN.AMP`` /
``TRAIN.CHANNELS_LAST``; the modes take turns step by step (machine load hits all alike),
warm-up steps are dropped, and the median step gives images/s. The table ends with the ratios
the performance goals are stated in; ``--json`` writes everything.

    python tools/benchmark.py --batch-size 32 --repeats 30 --json bench.json
    python tools/benchmark.py --methods advstyle TRAIN.AMP True TRAIN.CHANNELS_LAST True

ERM is the experiment config ``configs/<dataset>_erm.yaml`` as ``tools/train.py`` reads it; an adversary
adds its settings ``configs/trainers/<ADV.NAME>.yaml`` (when there is one) and, for SLIM,
``configs/trainers/slim.yaml``, trained by its named trainer (``PGDSLIM``, ...) or else by
``Adversarial``. Trailing ``KEY VALUE`` pairs override every one of our trainers.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time

import timm
import torch
import torch.nn.functional as F
import yaml

from slim_dg.adversarial import ADVERSARY_REGISTRY
from slim_dg.data import DATASET_REGISTRY
from slim_dg.engine import TRAINER_REGISTRY, build_trainer
from slim_dg.engine.adversarial import AdversarialTrainer
from slim_dg.engine.argv_config import parse_args as parse_train_args
from slim_dg.engine.argv_config import setup_cfg
from slim_dg.engine.process import set_determinism
from slim_dg.engine.optim import build_optimizer
from slim_dg.utils.logger import setup_logging
from slim_dg.utils.plugins import load_plugins
from slim_dg.utils.seed import set_seed

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")
DASSL_TRANSFORMS = {"random_crop": "random_crop", "random_flip": "random_flip", "random_resized_crop":
                    "random_resized_crop", "random_translation": "random_translation", "color_jitter": "colorjitter"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="digits_dg", help="configs/<dataset>_erm.yaml is the base of every mode")
    p.add_argument("--methods", nargs="*", default=None, metavar="ADV.NAME[:KEY=VALUE,...]",
                   help="adversaries for (d), each plain and with SLIM; default: every registered one; none: skip (d). "
                        "ADV.NAME:KEY=VALUE[,KEY=VALUE] times the SLIM trainer with those keys set, beside the "
                        "plain SLIM one (e.g. advstyle:SLIM.BALANCE=grad_norm)")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="import MODULE (or a .py file) first, to register adversaries; repeatable")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--block", type=int, default=1,
                   help="consecutive steps per mode and turn (1: strict alternation; >1: the first of each "
                        "turn, on caches the other modes left, is not timed)")
    p.add_argument("--target-domains", nargs="+", default=None)
    p.add_argument("--root", default="", help="DATASET.ROOT")
    p.add_argument("--no-dassl", action="store_true", help="skip (e) even when Dassl is installed")
    p.add_argument("--json", default="", help="also write the results here")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE overrides for every one of our trainers")
    args = p.parse_args(argv)
    for flag in ("repeats", "block"):  # a median needs at least one timed step
        if getattr(args, flag) < 1:
            p.error(f"--{flag} must be at least 1")
    return args


def trainer_cfg(args, config_file: str, out_dir: str, pairs=(), variant: str = ""):
    """The config tools/train.py would run for ``config_file`` (same set-up code), with the
    ``KEY VALUE`` ``pairs`` of a ``--methods`` variant."""
    targets = args.target_domains or [DATASET_REGISTRY.get(args.dataset).domains[-1]]
    name = os.path.splitext(os.path.basename(config_file))[0]
    return setup_cfg(parse_train_args([
        "--config-file", config_file, "--target-domains", *targets,
        "--output-dir", os.path.join(out_dir, name, variant), *(["--root", args.root] if args.root else []),
        "DATALOADER.TRAIN_X.BATCH_SIZE", str(args.batch_size), *args.opts, *pairs]))


def adversary_trainer(adversary: str, slim: bool) -> str:
    """The registered trainer that fixes this adversary and objective (``PGDSLIM``, ...), else ``Adversarial``."""
    for name in TRAINER_REGISTRY.names():
        cls = TRAINER_REGISTRY.get(name)
        if issubclass(cls, AdversarialTrainer) and cls.adversary_name == adversary and cls.use_slim is slim:
            return name
    return "Adversarial"


def adversary_config(args, adversary: str, slim: bool, out_dir: str) -> tuple[str, str]:
    """An experiment config for ``adversary`` on the ERM config's data (what a user's
    ``configs/<dataset>_<method>.yaml`` would hold), written into ``out_dir``; and its mode's name."""
    bases = [os.path.join(CONFIGS, f"{args.dataset}_erm.yaml")]
    own = os.path.join(CONFIGS, "trainers", f"{adversary}.yaml")
    bases += [own] if os.path.isfile(own) else []
    bases += [os.path.join(CONFIGS, "trainers", "slim.yaml")] if slim else []
    trainer = adversary_trainer(adversary, slim)
    label = trainer if trainer != "Adversarial" else f"Adversarial {adversary}{' SLIM' if slim else ''}"
    path = os.path.join(out_dir, f"{adversary}{'_slim' if slim else ''}.yaml")
    with open(path, "w") as f:
        yaml.safe_dump({"_BASE_": bases, "TRAINER": {"NAME": trainer},
                        "ADV": {"NAME": adversary}, "SLIM": {"ENABLED": slim}}, f)
    return path, f"(d) {label}"


def _cycle(loader, on_epoch=None):
    """Batches forever, epoch after epoch."""
    epoch = 0
    while True:
        if on_epoch is not None:
            on_epoch(epoch)
        yield from loader
        epoch += 1


# ------------------------------------------------------------------------------------------ the modes
def bare_timm_step(erm, batch):
    """(a): timm's model, our optimizer settings, the same autocast and memory format, nothing else."""
    cfg, device = erm.cfg, erm.device
    set_seed(0)
    model = timm.create_model(cfg.MODEL.BACKBONE.NAME, num_classes=erm.dataset.num_classes)
    model = model.to(device, memory_format=erm.memory_format).train()
    opt = build_optimizer(cfg, model.parameters())

    def step():  # the batch comes from host memory each step, as it does for run_step
        x = batch["img"].to(device, non_blocking=True, memory_format=erm.memory_format)
        y = batch["label"].to(device, non_blocking=True)
        with erm.autocast():  # torch.autocast of TRAIN.AMP, or nothing
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def our_step(trainer, batch):
    """(b), (d): ``run_step`` on the in-memory batch (a fresh dict: run_step pops a key)."""
    return lambda: trainer.run_step(dict(batch))


def our_pipeline_step(trainer):
    """(c): the next batch of the trainer's own loader, then ``run_step``."""
    sampler = trainer.train_loader.sampler
    batches = _cycle(trainer.train_loader, on_epoch=sampler.set_epoch)
    return lambda: trainer.run_step(next(batches))


def dassl_vanilla(erm, out_dir: str):
    """Dassl's Vanilla trainer on our dataset's images (a Dassl ``DatasetBase`` over the same files),
    timm backbone, optimizer, batch size, input size, augmentation and loader workers."""
    import slim_dg.integrations.dassl as integ
    from dassl.config import get_cfg_default
    from dassl.data.datasets import DATASET_REGISTRY as DASSL_DATASETS
    from dassl.data.datasets import DatasetBase
    from dassl.data.datasets import Datum as DasslDatum
    from dassl.engine import build_trainer as dassl_build_trainer

    ours, cfg = erm.dataset, erm.cfg
    domains = {d: i for i, d in enumerate(ours.domains)}

    def convert(data):
        return [DasslDatum(d.impath, d.label, domains[d.domain], ours.classnames[d.label]) for d in data]

    class SLIMDGBenchmarkData(DatasetBase):
        def __init__(self, dassl_cfg):
            test = [x for data in ours.test.values() for x in data]
            super().__init__(train_x=convert(ours.train_x), val=convert(test), test=convert(test))

    DASSL_DATASETS.register(SLIMDGBenchmarkData, force=True)
    dcfg = integ.extend_cfg(get_cfg_default())
    tfms = [DASSL_TRANSFORMS[t] for t in cfg.INPUT.TRANSFORMS if t in DASSL_TRANSFORMS]
    dcfg.merge_from_list([
        "DATASET.NAME", "SLIMDGBenchmarkData", "DATASET.SOURCE_DOMAINS", list(cfg.DATASET.SOURCE_DOMAINS),
        "DATASET.TARGET_DOMAINS", list(cfg.DATASET.TARGET_DOMAINS), "OUTPUT_DIR", out_dir, "SEED", cfg.SEED,
        "TRAINER.NAME", "Vanilla", "USE_CUDA", erm.device.type == "cuda",
        "INPUT.SIZE", tuple(cfg.INPUT.SIZE), "INPUT.TRANSFORMS", tfms + ["normalize"],
        "INPUT.PIXEL_MEAN", list(cfg.INPUT.PIXEL_MEAN), "INPUT.PIXEL_STD", list(cfg.INPUT.PIXEL_STD),
        "INPUT.CROP_PADDING", cfg.INPUT.CROP_PADDING, "INPUT.INTERPOLATION", cfg.INPUT.INTERPOLATION,
        "MODEL.BACKBONE.NAME", integ.register_timm_backbone(cfg.MODEL.BACKBONE.NAME),
        "MODEL.BACKBONE.PRETRAINED", False,
        "DATALOADER.TRAIN_X.BATCH_SIZE", cfg.DATALOADER.TRAIN_X.BATCH_SIZE,
        "DATALOADER.NUM_WORKERS", erm.train_loader.num_workers,
        "OPTIM.NAME", cfg.OPTIM.NAME, "OPTIM.LR", cfg.OPTIM.LR, "OPTIM.WEIGHT_DECAY", cfg.OPTIM.WEIGHT_DECAY,
        "OPTIM.MOMENTUM", cfg.OPTIM.MOMENTUM, "OPTIM.MAX_EPOCH", cfg.OPTIM.MAX_EPOCH])
    dcfg.freeze()
    with contextlib.redirect_stdout(io.StringIO()):  # Dassl prints its whole set-up
        set_seed(0)
        trainer = dassl_build_trainer(dcfg)
    trainer.set_model_mode("train")
    trainer.batch_idx, trainer.num_batches = 0, 1 << 30  # forward_backward steps the LR at an epoch's end
    return trainer


# ------------------------------------------------------------------------------------------ measuring
def measure(steps: dict, warmup: int, repeats: int, cuda: bool, block: int = 1) -> dict[str, list[float]]:
    """Round-robin over the modes, ``block`` consecutive steps of a mode per turn. With block 1
    every step starts with caches full of the other modes' weights; with a larger block only a
    turn's first step does, and that one is not timed (a single training run's steady state)."""
    times = {name: [] for name in steps}
    for i in range(warmup + repeats):
        for name, step in steps.items():
            for j in range(block):
                if cuda:
                    torch.cuda.synchronize()
                tic = time.perf_counter()
                step()
                if cuda:
                    torch.cuda.synchronize()
                if i >= warmup and (block == 1 or j > 0):
                    times[name].append(time.perf_counter() - tic)
    return times


def ratios(ips: dict[str, float], step_s: dict[str, float], slim_pairs=(), variant_pairs=()) -> dict[str, float]:
    """The goals' ratios: images/s ratios, except SLIM/plain (``slim_pairs``: (SLIM mode, plain mode)),
    a step-time ratio (the overhead); ``variant_pairs``: (variant mode, the mode it varies), step time too."""
    out = {}

    def put(key, num, den, table=ips):
        if num in table and den in table:
            out[key] = table[num] / table[den]

    put("(b) ERM / (a) bare timm  [images/s, goal >= 0.95]", "(b) ERM", "(a) bare timm")
    put("(c) ERM+io / (a) bare timm  [images/s, goal >= 0.85]", "(c) ERM+io", "(a) bare timm")
    put("(c) ERM+io / (e) Dassl Vanilla+io  [images/s, goal >= 1.2]", "(c) ERM+io", "(e) Dassl Vanilla+io")
    put("(b) ERM / (e) Dassl Vanilla  [images/s, same tensors]", "(b) ERM", "(e) Dassl Vanilla")
    for name, plain in slim_pairs:
        put(f"{name} / {plain}  [step time, goal <= 1.05]", name, plain, step_s)
    for name, base in variant_pairs:
        put(f"{name} / {base}  [step time]", name, base, step_s)
    return out


def main(argv=None):
    args = parse_args(argv)
    load_plugins(args.plugin)
    methods = ADVERSARY_REGISTRY.names() if args.methods is None else args.methods
    unknown = [name for name in (m.partition(":")[0] for m in methods) if name not in ADVERSARY_REGISTRY]
    if unknown:
        print(f"error: --methods: {ADVERSARY_REGISTRY.unknown_message(unknown[0])}", file=sys.stderr)
        sys.exit(2)
    setup_logging(None, logging.WARNING)  # the table, not every trainer's set-up
    erm_config = os.path.join(CONFIGS, f"{args.dataset}_erm.yaml")
    with tempfile.TemporaryDirectory() as out_dir:
        erm_cfg = trainer_cfg(args, erm_config, out_dir)
        set_determinism(erm_cfg)  # cuDNN autotunes on a GPU, as in training
        set_seed(0)
        erm = build_trainer(erm_cfg)
        batch = next(iter(erm.train_loader))  # one real, normalised batch, kept in (page-locked) memory
        batch.pop("skipped", None)
        if batch["img"].dtype == torch.uint8:  # a GPU's training loader leaves normalising to the step
            batch["img"] = erm.train_loader.collate_fn.normalize(batch["img"])
        if erm.device.type == "cuda":
            batch = {k: v.pin_memory() for k, v in batch.items()}
        steps = {"(a) bare timm": bare_timm_step(erm, batch), "(b) ERM": our_step(erm, batch)}
        set_seed(0)
        erm_io = build_trainer(trainer_cfg(args, erm_config, out_dir))  # its own weights, optimizer, loader
        steps["(c) ERM+io"] = our_pipeline_step(erm_io)
        slim_pairs, variant_pairs = [], []
        for method in methods:
            adversary, _, variant = method.partition(":")
            if variant:  # the SLIM trainer with the variant's keys, against the plain SLIM one
                pairs = [x for kv in variant.split(",") if kv for x in kv.split("=", 1)]
                config, label = adversary_config(args, adversary, True, out_dir)
                set_seed(0)
                steps[f"{label} {variant}"] = our_step(build_trainer(trainer_cfg(args, config, out_dir, pairs,
                                                                                 variant)), batch)
                variant_pairs.append((f"{label} {variant}", label))
                continue
            labels = []
            for slim in (False, True):
                config, label = adversary_config(args, adversary, slim, out_dir)
                set_seed(0)
                steps[label] = our_step(build_trainer(trainer_cfg(args, config, out_dir)), batch)
                labels.append(label)
            slim_pairs.append((labels[1], labels[0]))
        dassl_skipped = "--no-dassl" if args.no_dassl else ""
        if not args.no_dassl:
            try:
                dassl = dassl_vanilla(erm, os.path.join(out_dir, "dassl"))
                dassl_io = dassl_vanilla(erm, os.path.join(out_dir, "dassl_io"))
                steps["(e) Dassl Vanilla"] = lambda: dassl.forward_backward(batch)
                dassl_batches = _cycle(dassl_io.train_loader_x)
                steps["(e) Dassl Vanilla+io"] = lambda: dassl_io.forward_backward(next(dassl_batches))
            except ImportError as e:
                dassl_skipped = f"Dassl is not installed ({e})"
        times = measure(steps, args.warmup, args.repeats, erm.device.type == "cuda", args.block)
    bs = args.batch_size
    med = {n: statistics.median(v) for n, v in times.items()}
    ips = {n: bs / m for n, m in med.items()}
    rat = ratios(ips, med, slim_pairs, variant_pairs)
    cfg = erm.cfg
    report = {
        "command": " ".join(["python tools/benchmark.py", *(sys.argv[1:] if argv is None else argv)]),
        "backbone": cfg.MODEL.BACKBONE.NAME, "dataset": args.dataset, "input_size": list(cfg.INPUT.SIZE),
        "batch_size": bs, "device": str(erm.device), "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(), "amp": cfg.TRAIN.AMP and cfg.TRAIN.AMP_DTYPE,
        "channels_last": cfg.TRAIN.CHANNELS_LAST, "loader_workers": erm.train_loader.num_workers,
        "cache": cfg.DATALOADER.CACHE, "repeats": args.repeats, "warmup": args.warmup, "block": args.block,
        "fused_optimizer": cfg.OPTIM.FUSED,
        "dassl": dassl_skipped or "measured",
        "modes": {n: {"images_per_s": ips[n], "median_step_s": med[n], "min_step_s": min(times[n]),
                      "max_step_s": max(times[n])} for n in med},
        "ratios": rat,
    }
    print(f"\n{cfg.MODEL.BACKBONE.NAME}, {args.dataset} {tuple(cfg.INPUT.SIZE)}, batch {bs}, {erm.device}, "
          f"{torch.get_num_threads()} threads, AMP {report['amp'] or 'off'}, channels_last {cfg.TRAIN.CHANNELS_LAST}, "
          f"loader workers {report['loader_workers']}, cache {cfg.DATALOADER.CACHE}, fused optimizer {cfg.OPTIM.FUSED}, block {args.block}")
    w = max(26, *map(len, med))
    print(f"\n{'mode':<{w}} {'images/s':>9} {'step ms':>8} {'min':>7} {'max':>7} {'vs (a)':>7}")
    base = ips.get("(a) bare timm")
    for n in med:
        print(f"{n:<{w}} {ips[n]:9.1f} {1e3 * med[n]:8.1f} {1e3 * min(times[n]):7.1f} {1e3 * max(times[n]):7.1f} "
              f"{ips[n] / base:7.3f}")
    if dassl_skipped:
        print(f"\n(e) skipped: {dassl_skipped}")
    print("\nratios")
    for k, v in rat.items():
        print(f"  {k:<62} {v:.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return report


if __name__ == "__main__":
    main()
