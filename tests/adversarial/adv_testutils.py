"""Shared builders for the adversarial tests: a tiny timm classifier, a valid-pixel batch, and
one factory per adversary. Everything is seeded, so two calls give identical objects."""
from __future__ import annotations

import copy
import functools

import torch

from slim_dg.adversarial.advstyle import AdvStyle
from slim_dg.adversarial.base import adversarial_mode
from slim_dg.adversarial.feat_advstyle import FeatAdvStyle
from slim_dg.adversarial.objectives import Objective
from slim_dg.adversarial.pgd import PGD
from slim_dg.modeling.backbone import create_timm_backbone
from slim_dg.modeling.classifier import Classifier

# deliberately not 0.5: PGD's pixel <-> normalised-unit conversion must use the real std
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
NUM_CLASSES = 10
BACKBONE = "resnet10t"  # taps: act1, layer1..layer4 (64, 64, 128, 256, 512 channels)
ALL_TAPS = [0, 1, 2, 3, 4]


@functools.lru_cache(maxsize=None)
def _base_model(seed: int, name: str) -> Classifier:
    torch.manual_seed(seed)
    return Classifier(create_timm_backbone(name), NUM_CLASSES)


def make_model(seed: int = 0, name: str = BACKBONE) -> Classifier:
    """A fresh copy (train mode) of a seeded model; copies of the same seed are identical."""
    return copy.deepcopy(_base_model(seed, name)).train()


def run_steps(trainer, n: int = 2) -> list[dict]:
    """``n`` training steps on fixed batches, each after a fixed global seed (the random starts)."""
    losses = []
    for i in range(n):
        x, y = make_batch(seed=10 + i)
        torch.manual_seed(100 + i)
        losses.append(trainer.run_step({"img": x, "label": y}))
    return losses


def make_batch(seed: int = 1, b: int = 8, size: int = 32, edges: bool = True):
    """Normalised images whose pixels are in [0, 1] (some exactly 0 or 1), and labels."""
    g = torch.Generator().manual_seed(seed)
    pix = torch.rand(b, 3, size, size, generator=g)
    if edges:  # saturated pixels, so that range clamping actually binds
        pix[:, :, :4] = 0.0
        pix[:, :, -4:] = 1.0
    m = torch.tensor(MEAN).view(1, 3, 1, 1)
    s = torch.tensor(STD).view(1, 3, 1, 1)
    x = (pix - m) / s
    y = torch.randint(0, NUM_CLASSES, (b,), generator=g)
    return x, y


def to_pixels(x: torch.Tensor) -> torch.Tensor:
    return x * torch.tensor(STD).view(1, 3, 1, 1) + torch.tensor(MEAN).view(1, 3, 1, 1)


def make_advstyle(steps=3, random_start=0.1, lr=1.0, **kw):
    return AdvStyle(lr=lr, steps=steps, random_start=random_start, pixel_mean=MEAN, pixel_std=STD, **kw)


def make_pgd(steps=3, random_start=1.0, eps=8 / 255, step_size=2 / 255, **kw):
    return PGD(eps=eps, steps=steps, step_size=step_size, random_start=random_start, pixel_mean=MEAN,
               pixel_std=STD, **kw)


def make_feat_advstyle(steps=3, random_start=0.1, lr=1.0, **kw):
    return FeatAdvStyle(stages=[1, 2], channels=[64, 128], lr=lr, steps=steps, random_start=random_start, **kw)


ADVERSARIES = {"advstyle": make_advstyle, "pgd": make_pgd, "feat_advstyle": make_feat_advstyle}


class ZeroBase(Objective):
    """An output loss that is identically zero (but still in the graph): only SLIM's term acts."""

    def __call__(self, logits, y, adv_taps=None, clean_taps=None):
        return logits.sum() * 0.0


@torch.no_grad()
def taps_in_mode(model, adversary, x, taps, params=None):
    """Taps of the clean batch (or of the adversarial one, given ``params``) in the adversary's mode."""
    with adversarial_mode(model, adversary.bn_mode, adversary.update_bn):
        if params is None:
            return model(x, taps=taps)[1]
        return adversary.forward(model, x, params, taps=taps)[1]


def perturb_seeded(adversary, model, x, y, objective, clean_taps=None, seed=123):
    torch.manual_seed(seed)
    return adversary.perturb(model, x, y, objective, clean_taps)


def tap_cos(h_adv: torch.Tensor, h_clean: torch.Tensor) -> torch.Tensor:
    """Per-sample cosine of flattened taps."""
    return torch.nn.functional.cosine_similarity(h_adv.flatten(1), h_clean.flatten(1), dim=1)


def record_forwards(model) -> list[tuple[int, bool, object]]:
    """(batch size, training mode, taps) of every forward of ``model``. Recorded at ``model.forward``:
    the inner loop calls the bare model's ``forward`` itself, so module hooks on ``model`` never see it."""
    calls, forward = [], model.forward

    def recorded(x, *args, **kwargs):
        calls.append((x.shape[0], model.training, kwargs.get("taps")))
        return forward(x, *args, **kwargs)

    model.forward = recorded
    return calls
