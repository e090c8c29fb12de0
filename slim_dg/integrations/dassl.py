"""SLIM-DG inside Dassl.pytorch (https://github.com/KaiyangZhou/Dassl.pytorch): importing this
module registers into a real Dassl install

- the trainers ``AdvStyle``, ``AdvStyleSLIM``, ``PGD``, ``PGDSLIM``, ``FeatAdvStyle``,
  ``FeatAdvStyleSLIM`` (and ``Adversarial``: adversary from ``ADV.NAME``, SLIM from
  ``SLIM.ENABLED``) into ``dassl.engine.TRAINER_REGISTRY``. They are Dassl ``TrainerX``
  subclasses: Dassl's data, loop, LR stepping, checkpoints and evaluation, with the training step
  of ``slim_dg.adversarial.step.adversarial_losses`` (the function our own ``AdversarialTrainer``
  calls) and our adversary and SLIM classes, built from the config's ``ADV.*`` / ``SLIM.*`` keys;
- timm backbones with feature taps into ``dassl.modeling.BACKBONE_REGISTRY`` as ``timm_<timm
  name>`` (``timm_resnet18``, ``timm_resnet34``, ``timm_resnet50``, ``timm_resnet101`` eagerly;
  any other timm name through ``register_timm_backbone(name)``, which ``tools/train_dassl.py``
  calls for the ``MODEL.BACKBONE.NAME`` it is given), for Dassl's ``SimpleNet`` and trainers.

``extend_cfg(cfg)`` adds our ``ADV.*`` and ``SLIM.*`` keys (and ``MODEL.BACKBONE.WEIGHTS``) with
our defaults to a Dassl config; ``main(argv)`` is Dassl's ``tools/train.py`` flow with the
plugin imported (``tools/train_dassl.py``).

The model of our trainers is our ``Classifier`` (a timm backbone with taps + a linear layer): the
adversaries need taps and stage edits, which Dassl's ``SimpleNet`` cannot give. ``MODEL.BACKBONE.NAME``
is a timm name, with or without the ``timm_`` prefix (Dassl's ``resnet18`` thus becomes timm's
``resnet18``, the same architecture); ``MODEL.HEAD`` (an MLP between backbone and classifier) is
not supported. The adversaries' pixel bounds follow Dassl's input pipeline: ``INPUT.PIXEL_MEAN/STD``
when ``normalize`` is in ``INPUT.TRANSFORMS``, else images in [0, 1].

Dassl breakages with current torch/numpy, worked around here without editing Dassl:

1. Warmup schedulers (``OPTIM.WARMUP_EPOCH > 0``): Dassl's ``_BaseWarmupScheduler`` calls
   ``LRScheduler.__init__(optimizer, last_epoch, verbose)``; current torch (2.14) has no ``verbose`` any more, so
   building any warmup scheduler raises ``TypeError``. ``build_lr_scheduler`` here builds Dassl's
   ``LinearWarmupScheduler``/``ConstantWarmupScheduler`` through subclasses whose ``__init__``
   calls ``LRScheduler.__init__(optimizer, last_epoch)`` (Dassl's ``get_lr``/``step`` are used as
   they are). Importing this module points Dassl's engine modules at it, so Dassl's own trainers
   (``Vanilla`` ...) get the fix too.
2. The same schedulers' ``state_dict()`` holds the successor scheduler *object* (and through it the
   optimizer); since torch 2.6 ``torch.load`` defaults to ``weights_only=True``, so Dassl's
   ``resume_from_checkpoint`` cannot read such a checkpoint back. The subclasses of 1. store the
   successor's ``state_dict()`` instead.
3. ``load_model`` (``--eval-only --load-epoch N``) prints ``f"{val_result:.1f}"`` where
   ``val_result`` is ``None`` for every checkpoint but ``model-best``: ``TypeError``. The checkpoint
   loader Dassl's engine uses is wrapped so that a missing ``val_result`` reads as ``nan`` (files
   on disk are unchanged).
4. numpy >= 1.24 removed ``np.int``, which Dassl's ``imagenet_policy``/``cifar10_policy``/
   ``svhn_policy`` transforms use when built and ``randaugment`` uses when it draws
   ``SolarizeAdd`` (a crash mid-training). These cannot be fixed from outside; selecting them
   is refused up front with a clear error (``check_dassl_cfg``).
5. Installation: Dassl's ``setup.py`` imports numpy (needs ``--no-build-isolation``) and its
   requirements pin ``wilds==1.2.2`` and old linters that conflict with ours, so it is installed
   with ``--no-deps`` plus its runtime imports (see ``INSTALL_HINT``).
"""
from __future__ import annotations

import argparse
import difflib
import math
import sys
from typing import ClassVar

DASSL_REPO = "https://github.com/KaiyangZhou/Dassl.pytorch"
DASSL_COMMIT = "c61a1b570ac6333bd50fb5ae06aea59002fb20bb"
# what Dassl imports at run time (its requirements.txt pins old linters and wilds==1.2.2 as well)
DASSL_RUNTIME_DEPS = ("yacs", "gdown", "tabulate", "tensorboard", "scipy", "scikit-learn", "tqdm", "ftfy", "regex")
INSTALL_HINT = (
    "Dassl.pytorch is not on PyPI; install it from its repository at the commit SLIM-DG is tested with:\n"
    "  pip install numpy setuptools wheel\n"
    f"  pip install --no-deps --no-build-isolation \"dassl @ git+{DASSL_REPO}@{DASSL_COMMIT}\"\n"
    f"  pip install {' '.join(DASSL_RUNTIME_DEPS)}   # or, in a SLIM-DG checkout: pip install -e \".[dassl]\"\n"
    "(--no-deps: Dassl's requirements pin wilds==1.2.2 and old linters; --no-build-isolation: its setup.py "
    "imports numpy. A local archive of that commit installs the same way: "
    "pip install --no-deps --no-build-isolation Dassl.pytorch-c61a1b5.tar.gz)"
)

try:
    import dassl  # noqa: F401
except ImportError as e:  # not installed (or blocked with sys.modules["dassl"] = None)
    raise ImportError(f"slim_dg.integrations.dassl needs Dassl.pytorch, which cannot be imported ({e}).\n"
                      + INSTALL_HINT) from e
try:
    import dassl.engine.trainer as _dassl_trainer_module
    from dassl.config import clean_cfg, get_cfg_default
    from dassl.engine import TRAINER_REGISTRY, TrainerX, build_trainer
    from dassl.modeling import BACKBONE_REGISTRY, Backbone
    from dassl.optim import build_lr_scheduler as _dassl_build_lr_scheduler
    from dassl.optim import build_optimizer
    from dassl.optim.lr_scheduler import ConstantWarmupScheduler, LinearWarmupScheduler
    from dassl.utils import collect_env_info, count_num_param, load_pretrained_weights, set_random_seed, setup_logger
except ModuleNotFoundError as e:
    if (e.name or "").split(".")[0] == "dassl":
        raise
    raise ImportError(f"Dassl.pytorch is installed but cannot be imported: its runtime dependency '{e.name}' is "
                      f"missing. Install Dassl's runtime imports: pip install {' '.join(DASSL_RUNTIME_DEPS)}") from e

import numpy as np
import timm
import torch
from torch.optim.lr_scheduler import LRScheduler
from yacs.config import CfgNode as CN

from ..adversarial.step import adversarial_losses, build_adversary_and_objective, reuses_clean_taps
from ..config.defaults import get_cfg_defaults
from ..config.validate import CHOICES
from ..modeling.backbone import TimmBackbone, create_timm_backbone
from ..modeling.classifier import Classifier

__all__ = ["ADVERSARIAL_TRAINERS", "TIMM_PREFIX", "TimmDasslBackbone", "check_dassl_cfg", "extend_cfg", "main",
           "build_lr_scheduler", "register_timm_backbone", "setup_cfg", "timm_model_name"]

TIMM_PREFIX = "timm_"


def _register(registry, obj) -> None:
    """Register ``obj`` under its ``__name__``; re-registering our own object (a module reload) replaces
    it, a clash with anyone else's is an error."""
    name = obj.__name__
    if name in registry.registered_names():
        if getattr(registry.get(name), "__module__", None) != __name__:
            raise KeyError(f"Dassl's {registry._name} registry already holds a '{name}' that is not SLIM-DG's")
        registry.register(obj, force=True)
    else:
        registry.register(obj)


# ------------------------------------------------------------------------------------------------ config
def extend_cfg(cfg: CN) -> CN:
    """Add SLIM-DG's ``ADV.*`` and ``SLIM.*`` keys (and ``MODEL.BACKBONE.WEIGHTS``, a local weights
    file for ``timm_*`` backbones) with our defaults to a (not frozen) Dassl config; keys already
    there are kept. Call it before merging config files, as Dassl's ``extend_cfg`` hook does."""
    ours = get_cfg_defaults()
    for key in ("ADV", "SLIM"):
        if key not in cfg:
            setattr(cfg, key, ours[key].clone())
    if "WEIGHTS" not in cfg.MODEL.BACKBONE:
        cfg.MODEL.BACKBONE.WEIGHTS = ours.MODEL.BACKBONE.WEIGHTS
    return cfg


# Dassl transforms that use np.int (removed in numpy 1.24): at build time, or when RandAugment draws SolarizeAdd
NUMPY_BROKEN_TRANSFORMS = ("imagenet_policy", "cifar10_policy", "svhn_policy", "randaugment")


def check_dassl_cfg(cfg: CN) -> None:
    """Refuse, before any work, what is known to crash in this Dassl version on current numpy."""
    bad = [t for t in cfg.INPUT.TRANSFORMS if t in NUMPY_BROKEN_TRANSFORMS]
    if bad and not hasattr(np, "int"):
        raise ValueError(f"INPUT.TRANSFORMS {bad}: Dassl's implementation uses np.int, which numpy "
                         f"{np.__version__} no longer has (removed in 1.24), so it would crash. Pick other "
                         "transforms (e.g. random_flip, random_translation, colorjitter, randaugment2).")


def check_slim_dg_cfg(cfg: CN) -> None:
    """What our trainers need of a Dassl config."""
    if "ADV" not in cfg or "SLIM" not in cfg:
        raise KeyError("The config has no ADV/SLIM keys: call slim_dg.integrations.dassl.extend_cfg(cfg) on the "
                       "Dassl config before merging files (tools/train_dassl.py does).")
    for key, valid in CHOICES.items():
        if key.startswith(("ADV.", "SLIM.")):
            node = cfg
            for part in key.split("."):
                node = node[part]
            if node not in valid:
                raise ValueError(f"Invalid value '{node}' for {key}. Valid: {', '.join(valid)}")
    if cfg.MODEL.HEAD.NAME and cfg.MODEL.HEAD.HIDDEN_LAYERS:
        raise ValueError(f"MODEL.HEAD ({cfg.MODEL.HEAD.NAME}) is not supported by SLIM-DG's trainers: their model is "
                         "a timm backbone with feature taps and a linear classifier. Unset MODEL.HEAD.NAME.")
    timm_model_name(cfg.MODEL.BACKBONE.NAME)
    check_dassl_cfg(cfg)


def adversary_cfg(cfg: CN) -> CN:
    """The keys our adversaries' and SLIM's ``from_config`` read, as Dassl's pipeline means them: pixel
    statistics only when ``normalize`` is among the transforms (else the images are in [0, 1]), and a
    SLIM seed also when ``SEED`` < 0 (Dassl's "random": then the process's random torch seed)."""
    normalized = "normalize" in cfg.INPUT.TRANSFORMS
    channels = len(cfg.INPUT.PIXEL_MEAN)
    view = CN()
    view.ADV, view.SLIM = cfg.ADV.clone(), cfg.SLIM.clone()
    view.INPUT = CN()
    view.INPUT.PIXEL_MEAN = list(cfg.INPUT.PIXEL_MEAN) if normalized else [0.0] * channels
    view.INPUT.PIXEL_STD = list(cfg.INPUT.PIXEL_STD) if normalized else [1.0] * channels
    view.SEED = cfg.SEED if cfg.SEED >= 0 else torch.initial_seed()
    return view


# ------------------------------------------------------------------------------------------------ backbones
def timm_model_name(name: str) -> str:
    """The timm model behind ``MODEL.BACKBONE.NAME``: ``timm_<name>`` or a plain timm name."""
    if name in BACKBONE_REGISTRY.registered_names() and hasattr(BACKBONE_REGISTRY.get(name), "timm_name"):
        return BACKBONE_REGISTRY.get(name).timm_name
    stripped = name[len(TIMM_PREFIX):] if name.startswith(TIMM_PREFIX) else name
    if stripped and timm.is_model(stripped):
        return stripped
    close = difflib.get_close_matches(stripped, timm.list_models(), n=3, cutoff=0.6)
    hint = f" Did you mean: {', '.join(TIMM_PREFIX + c for c in close)}?" if close else ""
    raise KeyError(f"MODEL.BACKBONE.NAME '{name}' is not a timm model.{hint} SLIM-DG's trainers need a timm backbone "
                   f"with feature taps: '{TIMM_PREFIX}<name>' for any name of timm.list_models() (e.g. timm_resnet18).")


class TimmDasslBackbone(TimmBackbone, Backbone):
    """A timm model as a Dassl ``Backbone`` (``forward(x)``: pooled features; ``out_features``) that is
    also our ``TimmBackbone`` (taps, ``tap_index``, ``edit_stage_output``)."""

    # our TimmBackbone assigns out_features; Dassl's Backbone declares it a read-only property
    out_features = property(lambda self: self._out_features, lambda self, value: setattr(self, "_out_features", value))

    @classmethod
    def create(cls, timm_name: str, pretrained: bool = False, weights: str = "", **kwargs) -> "TimmDasslBackbone":
        return cls(create_timm_backbone(timm_name, pretrained, weights, **kwargs).model)


def register_timm_backbone(timm_name: str) -> str:
    """Register ``timm_<timm_name>`` in Dassl's backbone registry (once); returns that name. Dassl's
    ``build_backbone`` calls it as ``builder(pretrained=..., **kwargs)``."""
    if not timm.is_model(timm_name):
        timm_model_name(timm_name)  # raises, with suggestions
    name = TIMM_PREFIX + timm_name
    if name in BACKBONE_REGISTRY.registered_names() and getattr(BACKBONE_REGISTRY.get(name), "timm_name", None):
        return name

    def builder(pretrained: bool = True, weights: str = "", **kwargs):
        return TimmDasslBackbone.create(timm_name, pretrained, weights, **kwargs)

    builder.__name__ = builder.__qualname__ = name
    builder.timm_name = timm_name
    _register(BACKBONE_REGISTRY, builder)
    return name


for _name in ("resnet18", "resnet34", "resnet50", "resnet101"):
    register_timm_backbone(_name)


# ------------------------------------------------------------------------------------------------ Dassl fixes
class _WarmupInit:
    """``__init__`` of Dassl's warmup schedulers on torches without ``verbose`` (fix 1), and a state dict that holds
    the successor's state instead of the successor (fix 2)."""

    _value_key: ClassVar[str]

    def __init__(self, optimizer, successor, warmup_epoch, value, last_epoch=-1):
        self.successor = successor
        self.warmup_epoch = warmup_epoch
        setattr(self, self._value_key, value)
        LRScheduler.__init__(self, optimizer, last_epoch)

    def state_dict(self) -> dict:
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "successor")}
        state["successor"] = self.successor.state_dict()
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        state = dict(state_dict)
        successor = state.pop("successor", None)
        if isinstance(successor, dict):
            self.successor.load_state_dict(successor)
        self.__dict__.update(state)


class LinearWarmup(_WarmupInit, LinearWarmupScheduler):
    _value_key = "min_lr"


class ConstantWarmup(_WarmupInit, ConstantWarmupScheduler):
    _value_key = "cons_lr"


def build_lr_scheduler(optimizer, optim_cfg):
    """Dassl's ``build_lr_scheduler`` with the warmup fixes; without warmup it is Dassl's own."""
    if optim_cfg.WARMUP_EPOCH <= 0:
        return _dassl_build_lr_scheduler(optimizer, optim_cfg)
    if optim_cfg.WARMUP_TYPE not in ("linear", "constant"):
        raise ValueError(f"OPTIM.WARMUP_TYPE must be linear or constant, got '{optim_cfg.WARMUP_TYPE}'")
    plain = optim_cfg.clone()
    plain.defrost()
    plain.WARMUP_EPOCH = -1
    successor = _dassl_build_lr_scheduler(optimizer, plain)
    if not optim_cfg.WARMUP_RECOUNT:
        successor.last_epoch = optim_cfg.WARMUP_EPOCH
    if optim_cfg.WARMUP_TYPE == "constant":
        return ConstantWarmup(optimizer, successor, optim_cfg.WARMUP_EPOCH, optim_cfg.WARMUP_CONS_LR)
    return LinearWarmup(optimizer, successor, optim_cfg.WARMUP_EPOCH, optim_cfg.WARMUP_MIN_LR)


_dassl_load_checkpoint = _dassl_trainer_module.load_checkpoint


def _load_checkpoint_for_engine(fpath):
    """Dassl's ``load_checkpoint``; a missing ``val_result`` reads as nan (fix 3)."""
    checkpoint = _dassl_load_checkpoint(fpath)
    if isinstance(checkpoint, dict) and checkpoint.get("val_result", math.nan) is None:
        checkpoint["val_result"] = math.nan
    return checkpoint


def patch_dassl() -> list[str]:
    """Point Dassl's engine modules at the fixed scheduler builder and checkpoint loader (idempotent;
    done on import). Returns the names of the modules changed by this call."""
    changed = []
    for mod_name, module in list(sys.modules.items()):
        if not mod_name.startswith("dassl.") or module is None:
            continue
        if getattr(module, "build_lr_scheduler", None) is _dassl_build_lr_scheduler and mod_name != "dassl.optim" \
                and not mod_name.startswith("dassl.optim."):
            module.build_lr_scheduler = build_lr_scheduler
            changed.append(mod_name)
    if _dassl_trainer_module.load_checkpoint is _dassl_load_checkpoint:
        _dassl_trainer_module.load_checkpoint = _load_checkpoint_for_engine
        changed.append(_dassl_trainer_module.__name__)
    return sorted(set(changed))


patch_dassl()


# ------------------------------------------------------------------------------------------------ trainers
class SLIMDGTrainerX(TrainerX):
    """A Dassl ``TrainerX`` whose step is SLIM-DG's adversarial step (``adversarial_losses``)."""

    adversary_name: ClassVar[str] = ""  # "": from ADV.NAME
    use_slim: ClassVar[bool | None] = None  # None: from SLIM.ENABLED

    def check_cfg(self, cfg):
        check_slim_dg_cfg(cfg)

    def build_model(self):
        """Our Classifier (timm backbone with taps + linear layer), registered with Dassl's optimizer and
        scheduler as "model" (Dassl saves, resumes, steps and evaluates it); then adversary and objective."""
        cfg = self.cfg
        timm_name = timm_model_name(cfg.MODEL.BACKBONE.NAME)
        print(f"Building model: timm '{timm_name}' with feature taps + linear classifier (SLIM-DG)")
        backbone = create_timm_backbone(timm_name, cfg.MODEL.BACKBONE.PRETRAINED, cfg.MODEL.BACKBONE.get("WEIGHTS", ""),
                                        img_size=tuple(cfg.INPUT.SIZE))
        self.model = Classifier(backbone, self.num_classes)
        if cfg.MODEL.INIT_WEIGHTS:
            load_pretrained_weights(self.model, cfg.MODEL.INIT_WEIGHTS)
        self.model.to(self.device)  # one device: nn.DataParallel would hide .backbone and taps
        print(f"# params: {count_num_param(self.model):,}")
        self.optim = build_optimizer(self.model, cfg.OPTIM)
        self.sched = build_lr_scheduler(self.optim, cfg.OPTIM)
        self.register_model("model", self.model, self.optim, self.sched)

        self.adversary, self.objective = build_adversary_and_objective(adversary_cfg(cfg), self.model,
                                                                       self.adversary_name, self.use_slim)
        self.train_on_clean = cfg.ADV.TRAIN_ON == "clean+adv"
        self.reuse_clean_taps = reuses_clean_taps(self.adversary, self.train_on_clean)
        print(f"Adversary: {type(self.adversary).__name__}; objective: {type(self.objective).__name__}; "
              f"training on {cfg.ADV.TRAIN_ON}")

    def forward_backward(self, batch):
        x, y, _domain = self.parse_batch_train(batch)
        losses = adversarial_losses(self.model, self.adversary, self.objective, x, y, self.train_on_clean,
                                    self.reuse_clean_taps)
        loss = sum(losses.values())
        self.model_backward_and_update(loss)  # Dassl's: raises FloatingPointError on a non-finite loss
        if (self.batch_idx + 1) == self.num_batches:
            self.update_lr()
        return {"loss": loss.item()}


def _trainer(name: str, adversary: str, slim: bool | None) -> type:
    what = f"{adversary} adversary" if adversary else "adversary from ADV.NAME"
    how = "SLIM objective" if slim else ("plain objective" if slim is False else "SLIM if SLIM.ENABLED")
    cls = type(name, (SLIMDGTrainerX,), {"adversary_name": adversary, "use_slim": slim, "__module__": __name__,
                                          "__doc__": f"SLIM-DG in Dassl: {what}, {how}."})
    _register(TRAINER_REGISTRY, cls)
    return cls


AdvStyle = _trainer("AdvStyle", "advstyle", slim=False)
AdvStyleSLIM = _trainer("AdvStyleSLIM", "advstyle", slim=True)
PGD = _trainer("PGD", "pgd", slim=False)
PGDSLIM = _trainer("PGDSLIM", "pgd", slim=True)
FeatAdvStyle = _trainer("FeatAdvStyle", "feat_advstyle", slim=False)
FeatAdvStyleSLIM = _trainer("FeatAdvStyleSLIM", "feat_advstyle", slim=True)
Adversarial = _trainer("Adversarial", "", slim=None)
ADVERSARIAL_TRAINERS = ("AdvStyle", "AdvStyleSLIM", "PGD", "PGDSLIM", "FeatAdvStyle", "FeatAdvStyleSLIM", "Adversarial")


# ------------------------------------------------------------------------------------------------ command line
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


def setup_cfg(args: argparse.Namespace) -> CN:
    """Dassl's defaults + ours (``extend_cfg``), the dataset config file, the method config file, the
    flags, then KEY VALUE pairs; unused ``TRAINER.*`` nodes dropped, checked, frozen."""
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
    if cfg.MODEL.BACKBONE.NAME.startswith(TIMM_PREFIX):
        register_timm_backbone(timm_model_name(cfg.MODEL.BACKBONE.NAME))  # any timm name, for SimpleNet too
    cfg.freeze()
    return cfg


def main(argv: list[str] | None = None):
    """Dassl's tools/train.py flow: returns the trainer (after training, or evaluating with --eval-only)."""
    from ..utils.plugins import import_plugin

    args = build_parser().parse_args(argv)
    for plugin in args.plugin:
        import_plugin(plugin)
    cfg = setup_cfg(args)
    if cfg.SEED >= 0:
        print(f"Setting fixed seed: {cfg.SEED}")
        set_random_seed(cfg.SEED)
    setup_logger(cfg.OUTPUT_DIR)  # Dassl's: tees stdout into OUTPUT_DIR/log.txt
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
