"""slim_dg.integrations.dassl against a real Dassl.pytorch install: registration, config, the Dassl
workarounds, and end-to-end runs of Dassl's own engine (in process, and tools/train_dassl.py on
Dassl's PACS dataset class). Skipped, with the reason, where Dassl is not installed."""
from __future__ import annotations

import inspect
import math
import os
import subprocess
import sys
import tarfile

import pytest
import torch

try:
    import dassl  # noqa: F401
except ImportError as e:
    pytest.skip(f"Dassl.pytorch is not installed ({e}). CI installs it from "
                "../shared/third_party/Dassl.pytorch-c61a1b5.tar.gz; see README 'Using SLIM-DG inside Dassl'",
                allow_module_level=True)

# our plugin first: it undoes the process-wide logging.disable that importing Dassl performs (fix 6)
import slim_dg.integrations.dassl as integ  # noqa: I001
from dassl.config import clean_cfg, get_cfg_default
from dassl.engine import TRAINER_REGISTRY, SimpleNet, TrainerX, build_trainer
from dassl.modeling import BACKBONE_REGISTRY, Backbone, build_backbone
from dassl.optim import build_optimizer
from dassl.utils import set_random_seed

from slim_dg.adversarial.advstyle import AdvStyle
from slim_dg.adversarial.feat_advstyle import FeatAdvStyle
from slim_dg.adversarial.objectives import OutputLoss
from slim_dg.adversarial.pgd import PGD
from slim_dg.adversarial.slim import SLIM
from slim_dg.config.defaults import get_cfg_defaults
from slim_dg.modeling.classifier import Classifier

import dassl_tiny_dataset

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DASSL_ARCHIVE = os.path.join(REPO, "..", "shared", "third_party", "Dassl.pytorch-c61a1b5.tar.gz")
SIX = {"AdvStyle": (AdvStyle, False), "AdvStyleSLIM": (AdvStyle, True), "PGD": (PGD, False),
       "PGDSLIM": (PGD, True), "FeatAdvStyle": (FeatAdvStyle, False), "FeatAdvStyleSLIM": (FeatAdvStyle, True)}
TINY = ["INPUT.SIZE", "(32, 32)", "MODEL.BACKBONE.NAME", "timm_resnet10t", "MODEL.BACKBONE.PRETRAINED", "False",
        "DATALOADER.NUM_WORKERS", "0", "DATALOADER.TRAIN_X.BATCH_SIZE", "4", "DATALOADER.TEST.BATCH_SIZE", "8",
        "OPTIM.NAME", "sgd", "OPTIM.LR", "0.01", "OPTIM.LR_SCHEDULER", "cosine", "USE_CUDA", "False",
        "TRAIN.PRINT_FREQ", "1"]


# ------------------------------------------------------------------------------------------ (a) registries
def test_importing_the_plugin_registers_the_six_trainers():
    names = TRAINER_REGISTRY.registered_names()
    for name, (_, slim) in SIX.items():
        assert name in names
        cls = TRAINER_REGISTRY.get(name)
        assert issubclass(cls, TrainerX) and cls.__module__ == integ.trainers.__name__ and getattr(integ, name) is cls
        assert cls.use_slim is slim
    assert TRAINER_REGISTRY.get("AdvStyleSLIM").adversary_name == "advstyle"
    assert TRAINER_REGISTRY.get("FeatAdvStyle").adversary_name == "feat_advstyle"
    assert "Vanilla" in names  # Dassl's own trainers are still there


def test_timm_backbones_registered_and_usable_by_dassl_simplenet():
    names = BACKBONE_REGISTRY.registered_names()
    assert {"timm_resnet18", "timm_resnet50"} <= set(names)
    b = build_backbone("timm_resnet18", verbose=False, pretrained=False)
    assert isinstance(b, Backbone) and b.out_features == 512 and b.num_taps == 5  # Dassl's and ours
    # the generic entry: any timm name
    assert integ.register_timm_backbone("resnet10t") == "timm_resnet10t"
    assert "timm_resnet10t" in BACKBONE_REGISTRY.registered_names()
    cfg = get_cfg_default()
    cfg.MODEL.BACKBONE.NAME, cfg.MODEL.BACKBONE.PRETRAINED, cfg.VERBOSE = "timm_resnet10t", False, False
    net = SimpleNet(cfg, cfg.MODEL, num_classes=3)
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 3)
    with pytest.raises(KeyError, match="timm_resnet18"):  # a typo gets suggestions
        integ.register_timm_backbone("resnt18")


def test_timm_backbones_take_a_weights_tag():
    assert integ.timm_model_name("timm_resnet18.tv_in1k") == "resnet18.tv_in1k"
    name = integ.register_timm_backbone("resnet18.tv_in1k")  # torchvision's weights, as Dassl's own resnet18
    assert name == "timm_resnet18.tv_in1k" and integ.timm_model_name(name) == "resnet18.tv_in1k"
    b = build_backbone(name, verbose=False, pretrained=False)  # resolves the tag, downloads nothing
    assert b.model.pretrained_cfg["tag"] == "tv_in1k"
    for bad in (lambda: integ.timm_model_name("timm_resnet18.tv_in1kk"),
                lambda: integ.register_timm_backbone("resnet18.tv_in1kk")):
        with pytest.raises(KeyError, match=r"Unknown weights tag 'tv_in1kk'.*resnet18\.a1_in1k"):
            bad()


def test_backbone_names_for_our_trainers():
    assert integ.timm_model_name("timm_resnet50") == "resnet50"
    assert integ.timm_model_name("resnet18") == "resnet18"  # Dassl's name -> timm's same architecture
    with pytest.raises(KeyError, match="not a timm model"):
        integ.timm_model_name("cnn_digitsdg")  # a Dassl-only backbone has no taps


# ------------------------------------------------------------------------------------------ (b) config
def test_extend_cfg_adds_our_keys_with_our_defaults():
    cfg = get_cfg_default()
    assert "ADV" not in cfg and "SLIM" not in cfg
    assert integ.extend_cfg(cfg) is cfg
    ours = get_cfg_defaults()
    assert cfg.ADV == ours.ADV and cfg.SLIM == ours.SLIM
    assert cfg.MODEL.BACKBONE.WEIGHTS == ""
    assert cfg.OPTIM.NAME == get_cfg_default().OPTIM.NAME  # Dassl's keys untouched
    cfg.merge_from_list(["ADV.STEPS", "3", "SLIM.LOSS", "orthogonal"])  # now settable like any Dassl key
    assert cfg.ADV.STEPS == 3 and cfg.SLIM.LOSS == "orthogonal"
    integ.extend_cfg(cfg)  # idempotent: keeps what was set
    assert cfg.ADV.STEPS == 3
    with pytest.raises(AssertionError, match="Non-existent key: ADV.STEPS"):  # yacs' error, without extend_cfg
        get_cfg_default().merge_from_list(["ADV.STEPS", "3"])


def test_adversary_pixel_bounds_follow_dassl_normalize():
    cfg = integ.extend_cfg(get_cfg_default())
    cfg.INPUT.TRANSFORMS = ["random_flip", "normalize"]
    cfg.SEED = 5
    view = integ.adversary_cfg(cfg)
    assert view.INPUT.PIXEL_MEAN == list(cfg.INPUT.PIXEL_MEAN) and view.SEED == 5
    cfg.INPUT.TRANSFORMS = ["random_flip"]  # Dassl then feeds images in [0, 1]
    cfg.SEED = -1
    view = integ.adversary_cfg(cfg)
    assert view.INPUT.PIXEL_MEAN == [0.0] * 3 and view.INPUT.PIXEL_STD == [1.0] * 3 and view.SEED >= 0


def test_config_errors_are_clear():
    cfg = get_cfg_default()
    with pytest.raises(KeyError, match="extend_cfg"):
        integ.check_slim_dg_cfg(cfg)
    integ.extend_cfg(cfg)
    cfg.MODEL.BACKBONE.NAME = "timm_resnet10t"
    cfg.SLIM.LOSS = "cosinus"
    with pytest.raises(ValueError, match="SLIM.LOSS"):
        integ.check_slim_dg_cfg(cfg)
    cfg.SLIM.LOSS = "cosine"
    cfg.MODEL.HEAD.NAME, cfg.MODEL.HEAD.HIDDEN_LAYERS = "mlp", [64]
    with pytest.raises(ValueError, match="MODEL.HEAD"):
        integ.check_slim_dg_cfg(cfg)
    cfg.MODEL.HEAD.NAME = ""
    integ.check_slim_dg_cfg(cfg)
    cfg.INPUT.TRANSFORMS = ["imagenet_policy"]
    if not hasattr(__import__("numpy"), "int"):
        with pytest.raises(ValueError, match="np.int"):
            integ.check_slim_dg_cfg(cfg)


# ------------------------------------------------------------------------------------------ Dassl workarounds
def _lrs(sched, optim, n):
    out = []
    for _ in range(n):
        out.append(optim.param_groups[0]["lr"])
        optim.step()  # (no gradients: a no-op, in the order torch expects)
        sched.step()
    return out


@pytest.mark.parametrize("kind", ["linear", "constant"])
def test_warmup_scheduler_works_and_checkpoints_with_weights_only(kind, tmp_path):
    cfg = get_cfg_default()
    cfg.OPTIM.NAME, cfg.OPTIM.LR, cfg.OPTIM.LR_SCHEDULER, cfg.OPTIM.MAX_EPOCH = "sgd", 0.1, "cosine", 4
    cfg.OPTIM.WARMUP_EPOCH, cfg.OPTIM.WARMUP_TYPE = 2, kind
    cfg.OPTIM.WARMUP_MIN_LR, cfg.OPTIM.WARMUP_CONS_LR = 1e-4, 2e-3
    model = torch.nn.Linear(2, 2)
    optim = build_optimizer(model, cfg.OPTIM)
    sched = integ.build_lr_scheduler(optim, cfg.OPTIM)
    lrs = _lrs(sched, optim, 5)
    first = [1e-4, 0.05] if kind == "linear" else [2e-3, 2e-3]  # Dassl's warmup semantics
    cosine = [0.1, 0.1 * (1 + math.cos(math.pi / 4)) / 2, 0.1 * (1 + math.cos(math.pi / 2)) / 2]
    assert lrs == pytest.approx(first + cosine)
    # its state goes through torch.load(weights_only=True), as Dassl's resume_from_checkpoint needs
    torch.save({"scheduler": sched.state_dict()}, tmp_path / "s.pt")
    state = torch.load(tmp_path / "s.pt", weights_only=True)["scheduler"]
    optim2 = build_optimizer(model, cfg.OPTIM)
    sched2 = integ.build_lr_scheduler(optim2, cfg.OPTIM)
    sched2.load_state_dict(state)
    assert sched2.last_epoch == sched.last_epoch and sched2.successor.last_epoch == sched.successor.last_epoch
    # without warmup it is Dassl's own builder
    cfg.OPTIM.WARMUP_EPOCH = -1
    assert type(integ.build_lr_scheduler(optim, cfg.OPTIM)) is torch.optim.lr_scheduler.CosineAnnealingLR


def test_dassl_engine_uses_the_fixed_builders():
    import dassl.engine.dg.crossgrad as crossgrad
    import dassl.engine.trainer as engine

    assert engine.build_lr_scheduler is integ.build_lr_scheduler
    assert crossgrad.build_lr_scheduler is integ.build_lr_scheduler
    assert engine.load_checkpoint is integ._load_checkpoint_for_engine
    assert integ.patch_dassl() == []  # idempotent


# ------------------------------------------------------------------------------------------ (c) end to end
def _setup_cfg(root, out, trainer, extra=()):
    """What Dassl's tools/train.py does: defaults (+ extend_cfg), flags, opts, clean_cfg, freeze."""
    cfg = get_cfg_default()
    integ.extend_cfg(cfg)
    cfg.DATASET.ROOT, cfg.OUTPUT_DIR, cfg.SEED = str(root), str(out), 1
    cfg.DATASET.SOURCE_DOMAINS, cfg.DATASET.TARGET_DOMAINS = ["red", "green"], ["blue"]
    cfg.TRAINER.NAME = trainer
    cfg.merge_from_list(["DATASET.NAME", dassl_tiny_dataset.NAME, "INPUT.TRANSFORMS", "['random_flip', 'normalize']",
                         *TINY, *extra])
    clean_cfg(cfg, trainer)
    cfg.freeze()
    return cfg


@pytest.mark.slow
def test_advstyle_slim_trains_in_dassls_engine(tmp_path, monkeypatch):
    dassl_tiny_dataset.generate(str(tmp_path / "data"))
    calls = []
    shared_step = integ.trainers.adversarial_losses  # the name the trainers' step calls

    def spy(*args, **kw):
        losses = shared_step(*args, **kw)
        calls.append({k: v.item() for k, v in losses.items()})
        return losses

    monkeypatch.setattr(integ.trainers, "adversarial_losses", spy)
    out = tmp_path / "out"
    extra = ["OPTIM.MAX_EPOCH", "1", "OPTIM.WARMUP_EPOCH", "1", "ADV.STEPS", "2"]
    cfg = _setup_cfg(tmp_path / "data", out, "AdvStyleSLIM", extra)
    set_random_seed(cfg.SEED)
    trainer = build_trainer(cfg)
    assert type(trainer).__name__ == "AdvStyleSLIM" and isinstance(trainer, TrainerX)
    assert isinstance(trainer.model, Classifier) and isinstance(trainer.adversary, AdvStyle)
    assert isinstance(trainer.objective, SLIM) and trainer.objective.layers == [0, 1, 2, 3, 4]
    assert trainer.adversary.steps == 2 and trainer.adversary.pixel_std == tuple(cfg.INPUT.PIXEL_STD)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}

    trainer.train()  # Dassl's loop: epochs, LR stepping, checkpoint, final test

    assert len(calls) == 4  # 16 training images, batches of 4: every step went through the shared function
    assert all(list(c) == ["ce"] and math.isfinite(c["ce"]) for c in calls)
    after = trainer.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before if after[k].is_floating_point())
    ckpt = out / "model" / "model.pth.tar-1"
    assert ckpt.is_file() and (out / "model" / "checkpoint").read_text().strip() == "model.pth.tar-1"
    state = torch.load(ckpt, weights_only=True)
    assert state["epoch"] == 1 and isinstance(state["scheduler"]["successor"], dict)
    assert state["state_dict"].keys() == after.keys()
    assert trainer.get_current_lr() == pytest.approx(0.01)  # warmup (1 epoch) over: the cosine's start
    acc = trainer.test()
    assert 0.0 <= acc <= 100.0

    trainer.load_model(str(out), epoch=1)  # Dassl's --eval-only path (val_result None in this checkpoint)

    # Dassl's resume: a 2-epoch run in the same directory continues from epoch 1
    cfg2 = _setup_cfg(tmp_path / "data", out, "AdvStyleSLIM", ["OPTIM.MAX_EPOCH", "2", *extra[2:]])
    trainer2 = build_trainer(cfg2)
    trainer2.train()
    assert len(calls) == 8 and (out / "model" / "model.pth.tar-2").is_file()


@pytest.mark.parametrize("name", ["PGDSLIM", "FeatAdvStyle"])
def test_other_trainers_build_and_step_in_dassl(tmp_path, name):
    dassl_tiny_dataset.generate(str(tmp_path / "data"))
    cfg = _setup_cfg(tmp_path / "data", tmp_path / "out", name, ["OPTIM.MAX_EPOCH", "1", "ADV.RANDOM_START", "0.5"])
    trainer = build_trainer(cfg)
    adversary, slim = SIX[name]
    assert isinstance(trainer.adversary, adversary)
    assert type(trainer.objective) is (SLIM if slim else OutputLoss)
    trainer.set_model_mode("train")
    trainer.batch_idx, trainer.num_batches = 0, 2
    summary = trainer.forward_backward(next(iter(trainer.train_loader_x)))
    assert math.isfinite(summary["loss"])


def test_slim_balance_reaches_a_dassl_hosted_trainer(tmp_path):
    dassl_tiny_dataset.generate(str(tmp_path / "data"))
    cfg = _setup_cfg(tmp_path / "data", tmp_path / "out", "AdvStyleSLIM",
                     ["OPTIM.MAX_EPOCH", "1", "SLIM.BALANCE", "grad_norm"])
    trainer = build_trainer(cfg)
    assert trainer.objective.balance == "grad_norm"
    trainer.set_model_mode("train")
    trainer.batch_idx, trainer.num_batches = 0, 2
    assert math.isfinite(trainer.forward_backward(next(iter(trainer.train_loader_x)))["loss"])


def test_dassls_own_vanilla_with_a_timm_backbone_and_warmup(tmp_path):
    """Dassl's trainers get the scheduler fix too, and its SimpleNet takes the timm_* backbones."""
    dassl_tiny_dataset.generate(str(tmp_path / "data"))
    integ.register_timm_backbone("resnet10t")  # the generic entry (tools/train_dassl.py calls it for you)
    cfg = _setup_cfg(tmp_path / "data", tmp_path / "out", "Vanilla",
                     ["OPTIM.MAX_EPOCH", "2", "OPTIM.WARMUP_EPOCH", "1"])
    trainer = build_trainer(cfg)  # Dassl's unpatched build_lr_scheduler raises TypeError here on torch 2.14
    assert isinstance(trainer.model, SimpleNet) and isinstance(trainer.model.backbone, integ.TimmDasslBackbone)
    assert isinstance(trainer.sched, integ.LinearWarmup)
    # not vacuous: Dassl's own builder, which the plugin replaced in its engine, fails on this config
    if "verbose" not in inspect.signature(torch.optim.lr_scheduler.LRScheduler.__init__).parameters:
        with pytest.raises(TypeError):
            integ._dassl_build_lr_scheduler(build_optimizer(trainer.model, cfg.OPTIM), cfg.OPTIM)
    trainer.set_model_mode("train")
    trainer.batch_idx, trainer.num_batches = 0, 1
    summary = trainer.forward_backward(next(iter(trainer.train_loader_x)))  # its last batch: the LR steps
    assert math.isfinite(summary["loss"]) and trainer.get_current_lr() == pytest.approx(0.01)


def _pacs_yaml(tmp_path) -> str:
    """Dassl's configs/datasets/dg/pacs.yaml, from the archive CI installs Dassl from (or the same keys)."""
    path = tmp_path / "pacs.yaml"
    if os.path.isfile(DASSL_ARCHIVE):
        with tarfile.open(DASSL_ARCHIVE) as tar:
            path.write_bytes(tar.extractfile("configs/datasets/dg/pacs.yaml").read())
    else:
        path.write_text('INPUT:\n  SIZE: (224, 224)\n  TRANSFORMS: ["random_flip", "random_translation", "normalize"]\n'
                        'DATASET:\n  NAME: "PACS"\nMODEL:\n  BACKBONE:\n    NAME: "resnet18"\n    PRETRAINED: True\n')
    return str(path)


@pytest.mark.slow
def test_tools_train_dassl_trains_on_dassls_pacs_class(tmp_path):
    dassl_tiny_dataset.generate_fake_pacs(str(tmp_path / "data"))
    out = tmp_path / "out"
    cmd = [sys.executable, os.path.join(REPO, "tools", "train_dassl.py"), "--root", str(tmp_path / "data"),
           "--trainer", "AdvStyleSLIM", "--source-domains", "art_painting", "cartoon", "--target-domains", "photo",
           "--dataset-config-file", _pacs_yaml(tmp_path), "--output-dir", str(out), "--seed", "1",
           *TINY, "OPTIM.MAX_EPOCH", "1"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log = (out / "log.txt").read_text()  # Dassl's logger
    assert "Loading dataset: PACS" in log and "Loading trainer: AdvStyleSLIM" in log
    assert "NAME: timm_resnet10t" in log  # the command line overrode pacs.yaml's resnet18
    losses = [float(line.split(" loss ")[1].split()[0]) for line in log.splitlines() if " loss " in line]
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)  # 12 training images, batches of 4
    assert "* accuracy:" in log
    assert (out / "model" / "model.pth.tar-1").is_file()


def test_importing_dassl_through_the_plugin_keeps_our_logging():
    import logging

    assert logging.root.manager.disable < logging.INFO  # Dassl's import disabled INFO/WARNING process-wide


def _train_dassl(tmp_path, *extra):
    """tools/train_dassl.py --no-train (builds everything) on Dassl's PACS class with a dataset config that
    names no backbone."""
    dassl_tiny_dataset.generate_fake_pacs(str(tmp_path / "data"))
    cfg = tmp_path / "pacs_no_model.yaml"
    cfg.write_text('INPUT:\n  SIZE: (32, 32)\n  TRANSFORMS: ["random_flip", "normalize"]\nDATASET:\n  NAME: "PACS"\n')
    cmd = [sys.executable, os.path.join(REPO, "tools", "train_dassl.py"), "--root", str(tmp_path / "data"),
           "--trainer", "AdvStyleSLIM", "--source-domains", "art_painting", "cartoon", "--target-domains", "photo",
           "--dataset-config-file", str(cfg), "--output-dir", str(tmp_path / "out"), "--no-train",
           "MODEL.BACKBONE.PRETRAINED", "False", "USE_CUDA", "False", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=300)


@pytest.mark.slow
def test_tools_train_dassl_without_a_backbone_name_uses_timm_resnet18(tmp_path):
    proc = _train_dassl(tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log = (tmp_path / "out" / "log.txt").read_text()
    assert "MODEL.BACKBONE.NAME is not set: using timm_resnet18" in log and "NAME: timm_resnet18" in log


@pytest.mark.slow
def test_tools_train_dassl_bad_backbone_name_is_one_line(tmp_path):
    proc = _train_dassl(tmp_path, "MODEL.BACKBONE.NAME", "timm_resnt18")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "'timm_<name>'" in lines[0] and "timm_resnet18" in lines[0], proc.stderr
