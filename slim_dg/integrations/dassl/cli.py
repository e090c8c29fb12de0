"""Dassl's ``tools/train.py`` flow with SLIM-DG's trainers and timm backbones registered: the command
line of ``tools/train_dassl.py`` (``build_parser``, ``setup_cfg``, ``main``)."""
from __future__ import annotations

import argparse
import sys

import torch
from dassl.config import clean_cfg, get_cfg_default
from dassl.engine import build_trainer
from dassl.modeling import BACKBONE_REGISTRY
from dassl.utils import collect_env_info, set_random_seed, setup_logger
from yacs.config import CfgNode as CN

from .backbones import TIMM_PREFIX, register_timm_backbone, timm_model_name
from .config import check_dassl_cfg, extend_cfg

__all__ = ["DEFAULT_BACKBONE", "build_parser", "main", "setup_cfg"]
# when neither the config files nor the command line name a backbone
DEFAULT_BACKBONE = TIMM_PREFIX + "resnet18"


def build_parser() -> argparse.ArgumentParser:
    """The flags of Dassl's tools/train.py, plus --plugin."""
    p = argparse.ArgumentParser(description="Dassl's training flow with SLIM-DG's trainers and timm backbones "
                                            "registered (e.g. --trainer AdvStyleSLIM).")
    p.add_argument("--root", default="", help="path to the datasets (DATASET.ROOT)")
    p.add_argument("--output-dir", default="", help="OUTPUT_DIR")
    p.add_argument("--resume", default="", help="checkpoint directory to resume training from (RESUME)")
    p.add_argument("--seed", type=int, default=None, help="SEED (a negative seed: random)")
    p.add_argument("--source-domains", nargs="+", help="DATASET.SOURCE_DOMAINS")
    p.add_argument("--target-domains", nargs="+", help="DATASET.TARGET_DOMAINS")
    p.add_argument("--transforms", nargs="+", help="INPUT.TRANSFORMS")
    p.add_argument("--config-file", default="", help="method config file (merged after the dataset's)")
    p.add_argument("--dataset-config-file", default="", help="dataset config file, e.g. Dassl's "
                                                             "configs/datasets/dg/pacs.yaml")
    p.add_argument("--trainer", default="", help="TRAINER.NAME, e.g. AdvStyleSLIM")
    p.add_argument("--backbone", default="", help="MODEL.BACKBONE.NAME, e.g. timm_resnet18")
    p.add_argument("--head", default="", help="MODEL.HEAD.NAME")
    p.add_argument("--eval-only", action="store_true", help="only evaluate the model of --model-dir")
    p.add_argument("--model-dir", default="", help="directory of the model --eval-only loads")
    p.add_argument("--load-epoch", type=int, help="epoch of the checkpoint --eval-only loads (default: best)")
    p.add_argument("--no-train", action="store_true", help="build everything, do not train")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="import MODULE (or a .py file) first, e.g. to register a Dassl dataset; repeatable")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    return p


def setup_cfg(args: argparse.Namespace, notes: list[str] | None = None) -> CN:
    """Dassl's defaults + ours (``extend_cfg``), the dataset config file, the method config file, the
    flags, then KEY VALUE pairs; unused ``TRAINER.*`` nodes dropped, checked, frozen. What was
    filled in for the user (a backbone when none is named) is appended to ``notes``."""
    cfg = extend_cfg(get_cfg_default())
    for path in (args.dataset_config_file, args.config_file):
        if path:
            cfg.merge_from_file(path)
    flags = {"DATASET.ROOT": args.root, "OUTPUT_DIR": args.output_dir, "RESUME": args.resume,
             "DATASET.SOURCE_DOMAINS": args.source_domains, "DATASET.TARGET_DOMAINS": args.target_domains,
             "INPUT.TRANSFORMS": args.transforms, "TRAINER.NAME": args.trainer, "MODEL.BACKBONE.NAME": args.backbone,
             "MODEL.HEAD.NAME": args.head}
    for key, value in flags.items():
        if value:
            *parents, leaf = key.split(".")
            node = cfg
            for part in parents:
                node = node[part]
            setattr(node, leaf, value)
    if args.seed is not None:
        cfg.SEED = args.seed
    cfg.merge_from_list(args.opts or [])
    clean_cfg(cfg, cfg.TRAINER.NAME)
    check_dassl_cfg(cfg)
    if not cfg.MODEL.BACKBONE.NAME:  # e.g. a dataset config alone: Dassl would fail on the empty name
        cfg.MODEL.BACKBONE.NAME = DEFAULT_BACKBONE
        if notes is not None:
            notes.append(f"MODEL.BACKBONE.NAME is not set: using {DEFAULT_BACKBONE} "
                         "(set MODEL.BACKBONE.NAME or --backbone to choose another)")
    name = cfg.MODEL.BACKBONE.NAME
    if name.startswith(TIMM_PREFIX):
        register_timm_backbone(timm_model_name(name))  # any timm name, for SimpleNet too
    elif name not in BACKBONE_REGISTRY.registered_names():
        timm_model_name(name)  # neither Dassl's nor timm's: KeyError naming the valid form
    cfg.freeze()
    return cfg


def main(argv: list[str] | None = None):
    """Dassl's tools/train.py flow: returns the trainer (after training, or evaluating with --eval-only)."""
    from ...utils.plugins import import_plugin

    args = build_parser().parse_args(argv)
    for plugin in args.plugin:
        import_plugin(plugin)
    notes: list[str] = []
    try:
        cfg = setup_cfg(args, notes)
    except (KeyError, ValueError) as e:  # bad input (yacs' unknown keys are KeyErrors): one line, no traceback
        sys.exit(f"error: {e.args[0] if isinstance(e, KeyError) and e.args else e}")
    if cfg.SEED >= 0:
        print(f"Setting fixed seed: {cfg.SEED}")
        set_random_seed(cfg.SEED)
    setup_logger(cfg.OUTPUT_DIR)  # Dassl's: tees stdout into OUTPUT_DIR/log.txt
    for note in notes:
        print(note)
    if torch.cuda.is_available() and cfg.USE_CUDA:
        torch.backends.cudnn.benchmark = True
    print("** Arguments **")
    for key in sorted(vars(args)):
        print(f"{key}: {getattr(args, key)}")
    print("** Config **")
    print(cfg)
    print(f"** System info **\n{collect_env_info()}\n")

    trainer = build_trainer(cfg)
    if args.eval_only:
        trainer.load_model(args.model_dir, epoch=args.load_epoch)
        trainer.test()
    elif not args.no_train:
        trainer.train()
    return trainer
