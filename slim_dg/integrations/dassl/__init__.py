"""SLIM-DG inside Dassl.pytorch (https://github.com/KaiyangZhou/Dassl.pytorch): importing this
package registers into a real Dassl install

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

Modules (everything public is re-exported here):

- ``config``: ``extend_cfg``, ``check_dassl_cfg``, ``check_slim_dg_cfg``, ``adversary_cfg``;
- ``backbones``: the ``timm_*`` backbones of Dassl's ``BACKBONE_REGISTRY``;
- ``fixes``: the workarounds for Dassl breakages with current torch/numpy (warmup schedulers,
  checkpoint loading; ``patch_dassl``), numbered 1-5 there and applied on import (fix 6, the
  process-wide ``logging.disable`` that importing Dassl performs, is undone below);
- ``trainers``: ``SLIMDGTrainerX`` and the trainers of Dassl's ``TRAINER_REGISTRY``;
- ``cli``: ``build_parser``, ``setup_cfg``, ``main`` (``tools/train_dassl.py``);
- ``registry``: registering into Dassl's registries without clobbering anyone else's entries.

This file checks that Dassl (and its runtime imports) can be imported, with install advice if not
(``INSTALL_HINT``; why Dassl is installed that way: fix 5 in ``fixes``).
"""
from __future__ import annotations

import logging

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
# Fix 6: importing Dassl runs ``logging.disable(logging.WARNING)`` (dassl/data/datasets/dg/wilds/
# wilds_base.py, to quiet wilds), which silences INFO and WARNING of every logger in the process,
# ours included. We put the process-wide level back to what it was before Dassl was imported.
_logging_disabled_before = logging.root.manager.disable
try:  # the Dassl modules the submodules use: a missing runtime dependency surfaces here, with advice
    import dassl.config
    import dassl.engine
    import dassl.engine.trainer
    import dassl.modeling
    import dassl.optim
    import dassl.optim.lr_scheduler
    import dassl.utils  # noqa: F401
except ModuleNotFoundError as e:
    if (e.name or "").split(".")[0] == "dassl":
        raise
    raise ImportError(f"Dassl.pytorch is installed but cannot be imported: its runtime dependency '{e.name}' is "
                      f"missing. Install Dassl's runtime imports: pip install {' '.join(DASSL_RUNTIME_DEPS)}") from e
finally:
    logging.disable(_logging_disabled_before)

# importing the submodules registers the backbones and trainers and patches Dassl's engine (fixes 1-3)
from . import backbones, cli, config, fixes, registry, trainers  # noqa: E402,F401
from .backbones import TIMM_PREFIX, TimmDasslBackbone, register_timm_backbone, timm_model_name  # noqa: E402
from .cli import build_parser, main, setup_cfg  # noqa: E402
from .config import NUMPY_BROKEN_TRANSFORMS, adversary_cfg, check_dassl_cfg, check_slim_dg_cfg, extend_cfg  # noqa: E402
from .fixes import ConstantWarmup, LinearWarmup, build_lr_scheduler, patch_dassl  # noqa: E402
# the originals the fixes replace, for checks against Dassl's own behaviour (tests)
from .fixes import _dassl_build_lr_scheduler, _dassl_load_checkpoint, _load_checkpoint_for_engine  # noqa: E402,F401
from .trainers import (ADVERSARIAL_TRAINERS, PGD, PGDSLIM, Adversarial, AdvStyle, AdvStyleSLIM,  # noqa: E402
                       FeatAdvStyle, FeatAdvStyleSLIM, SLIMDGTrainerX)

__all__ = ["ADVERSARIAL_TRAINERS", "TIMM_PREFIX", "TimmDasslBackbone", "check_dassl_cfg", "extend_cfg", "main",
           "build_lr_scheduler", "register_timm_backbone", "setup_cfg", "timm_model_name"]
