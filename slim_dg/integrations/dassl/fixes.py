"""Dassl breakages with current torch/numpy, worked around in this package without editing Dassl:

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
   is refused up front with a clear error (``check_dassl_cfg``, in ``config``).
5. Installation: Dassl's ``setup.py`` imports numpy (needs ``--no-build-isolation``) and its
   requirements pin ``wilds==1.2.2`` and old linters that conflict with ours, so it is installed
   with ``--no-deps`` plus its runtime imports (see ``INSTALL_HINT``, in the package's ``__init__``).

1-3 are applied by ``patch_dassl()``, called when this module is imported (which importing
``slim_dg.integrations.dassl`` does).
"""
from __future__ import annotations

import math
import sys
from typing import ClassVar

import dassl.engine.trainer as _dassl_trainer_module
from dassl.optim import build_lr_scheduler as _dassl_build_lr_scheduler
from dassl.optim.lr_scheduler import ConstantWarmupScheduler, LinearWarmupScheduler
from torch.optim.lr_scheduler import LRScheduler

__all__ = ["ConstantWarmup", "LinearWarmup", "build_lr_scheduler", "patch_dassl"]


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
