"""The white-box attacks on a trained ``Classifier``, in one table (``ATTACKS``). Every attack works
in the L_inf ball of radius ``eps`` (in [0, 1] pixels) on normalised batches of the model in eval mode,
as ``attack(x, y) -> x̃``:

* ``fgsm``: torchattacks' FGSM;
* ``pgd``: torchattacks' PGD on the CE, ``steps`` steps of ``step_size`` from a random start (its
  column names the steps: ``PGD-20``);
* ``cw``: CW∞, our PGD adversary ascending the Carlini-Wagner margin ``max_{k≠y} z_k − z_y``
  (logits ``z``; no confidence clamp), from a random start;
* ``autoattack``: AutoAttack as published tables report it, the reference implementation's standard
  version (APGD-CE, APGD-T, FAB-T, Square; Croce & Hein, 2020; ``reference_autoattack``); refused
  with its install line when it is not installed;
* ``aa_lite``: torchattacks' AutoAttack, standard version, whose APGD-CE, APGD-T and FAB-T run 10
  iterations instead of the reference's 100: faster, weaker, and not comparable with published
  AutoAttack numbers (only on request, never in place of ``autoattack``);
* ``pgd_cs``: PGD-CS, an intermediate-layer attack: our PGD adversary *minimising the cosine
  similarity* of one tap's features to the clean ones (``TapCosine``).

torchattacks works in [0, 1] pixel space; told our normalisation (``set_normalization_used``) it
takes our normalised batches, attacks their pixels, and returns them normalised again. Our own PGD
(``cw``, ``pgd_cs``) is ``slim_dg.adversarial.pgd.pgd_attack``, the attack that selects robust
checkpoints during training. Accuracies are counted by ``slim_dg.evaluation.adversarial.attack_accuracy``.
"""
from __future__ import annotations

import difflib

import torch
import torch.nn.functional as F
from torch import nn

from ..adversarial.objectives import Objective
from ..adversarial.pgd import pgd_attack
from ..adversarial.slim import intermediate_loss
from ..errors import MissingPackageError, UnknownNameError
from ..evaluation.adversarial import Attack, attack_accuracy
from .reference_autoattack import TARGET_CLASSES, autoattack_attack, require_reference

#: name -> (table column, the package it needs beyond ours)
ATTACKS = {
    "fgsm": ("FGSM", "torchattacks"),
    "pgd": ("PGD", "torchattacks"),  # its column names the steps: PGD-20
    "cw": ("CW∞", ""),
    "autoattack": ("AutoAttack", "autoattack"),
    "aa_lite": ("AA-lite (10 it.)", "torchattacks"),
    "pgd_cs": ("PGD-CS", ""),
}
RENAMED = {"pgd20": "pgd", "pgd_ce": "pgd"}  # earlier names, still accepted where users type them


def _torchattacks():
    try:
        import torchattacks
    except ImportError as e:
        raise MissingPackageError("The attacks need torchattacks: pip install -e \".[analysis]\" "
                                  "(or pip install torchattacks)") from e
    return torchattacks


class CWMargin(Objective):
    """The CW∞ objective to ascend: the batch mean of ``max_{k≠y} z_k − z_y``."""

    def __call__(self, logits, y, adv_taps=None, clean_taps=None) -> torch.Tensor:
        true = logits.gather(1, y[:, None]).squeeze(1)
        other = logits.scatter(1, y[:, None], float("-inf")).max(1).values
        return (other - true).mean()


class TapCosine(Objective):
    """The PGD-CS objective: ``-cos(h_tap(x̃), h_tap(x))``, to ascend (an adversary objective)."""

    def __init__(self, tap: int):
        self.tap = tap
        self.clean_taps = [tap]

    def begin_step(self) -> list[int]:
        return [self.tap]

    def __call__(self, logits, y, adv_taps=None, clean_taps=None) -> torch.Tensor:
        return intermediate_loss(adv_taps[self.tap], clean_taps[self.tap], "cosine")


def attack_name(name: str) -> str:
    """The table's name of attack ``name`` (an earlier name gives today's); unknown: ``UnknownNameError``
    listing the valid names."""
    name = RENAMED.get(name, name)
    if name not in ATTACKS:
        close = difflib.get_close_matches(name, list(ATTACKS) + list(RENAMED), n=1, cutoff=0.5)
        hint = f"; did you mean '{RENAMED.get(close[0], close[0])}'?" if close else "."
        raise UnknownNameError(f"Unknown attack '{name}'{hint} Available: {', '.join(ATTACKS)}")
    return name


def column(name: str, steps: int | None = None) -> str:
    """The table column of attack ``name`` (``"clean"`` included); ``pgd``'s names its ``steps``."""
    if name == "clean":
        return "Clean"
    return f"PGD-{steps}" if name == "pgd" and steps is not None else ATTACKS[name][0]


def check_attacks(names, num_classes: int | None = None) -> list[str]:
    """``names`` as the table names them, each once; refuses unknown attacks, and attacks whose package
    is missing (with its install line) or that cannot attack a ``num_classes`` model, before any work."""
    names = list(dict.fromkeys(attack_name(n) for n in names))
    needs = {ATTACKS[n][1] for n in names}
    if "autoattack" in needs:
        require_reference(num_classes)
    if "torchattacks" in needs:
        _torchattacks()
    return names


def build_attacks(model: nn.Module, pixel_mean, pixel_std, num_classes: int, names, eps: float = 8 / 255,
                  steps: int = 20, step_size: float = 2 / 255, tap: int | str = -1, seed: int = 0) -> dict[str, Attack]:
    """``{name: attack(x, y) -> x̃}`` on normalised batches, in the order of ``names`` (see ``check_attacks``);
    ``tap`` is PGD-CS's (index or timm name), ``seed`` AutoAttack's."""
    out = {}
    for name in check_attacks(names, num_classes):
        if name == "fgsm":
            out[name] = _normalised(_torchattacks().FGSM(model, eps=eps), pixel_mean, pixel_std)
        elif name == "pgd":
            out[name] = _normalised(_torchattacks().PGD(model, eps=eps, alpha=step_size, steps=steps,
                                                        random_start=True), pixel_mean, pixel_std)
        elif name == "cw":
            out[name] = pgd_attack(model, eps, steps, step_size, pixel_mean, pixel_std, CWMargin())
        elif name == "autoattack":
            out[name] = autoattack_attack(model, pixel_mean, pixel_std, eps, num_classes, seed)
        elif name == "aa_lite":
            # torchattacks targets n_classes - 1 classes: capped to the reference's 9 (CIFAR-100: not 99)
            out[name] = _normalised(_torchattacks().AutoAttack(
                model, norm="Linf", eps=eps, version="standard", n_classes=min(num_classes, TARGET_CLASSES + 1),
                seed=seed), pixel_mean, pixel_std)
        elif name == "pgd_cs":
            objective = TapCosine(model.backbone.tap_index(tap))
            out[name] = pgd_attack(model, eps, steps, step_size, pixel_mean, pixel_std, objective)
    return out


def _normalised(attack, pixel_mean, pixel_std):
    """A torchattacks attack told our input normalisation."""
    attack.set_normalization_used(mean=list(pixel_mean), std=list(pixel_std))
    return attack


@torch.no_grad()
def tap_cosine(model: nn.Module, tap: int, x: torch.Tensor, x_adv: torch.Tensor) -> torch.Tensor:
    """Per-sample cosine of tap ``tap``'s features, adversarial vs clean (eval mode)."""
    model.eval()
    h = model(x, taps=[tap])[1][tap].flatten(1)
    h_adv = model(x_adv, taps=[tap])[1][tap].flatten(1)
    return F.cosine_similarity(h_adv, h, dim=1)


def robustness(model: nn.Module, attacks: dict[str, Attack], loader, device, tap: int, seed: int = 0) -> dict:
    """Clean and per-attack accuracy (percent) on one domain's loader (``attack_accuracy``), plus the
    mean cosine of tap ``tap``'s features under each attack (``"tap_cosine"``)."""
    cosine = {a: 0.0 for a in attacks}

    def recording_cosine(name):
        def attack(x, y):
            x_adv = attacks[name](x, y).detach()
            cosine[name] += tap_cosine(model, tap, x, x_adv).sum().item()
            return x_adv
        return attack

    out = attack_accuracy(model, loader, {a: recording_cosine(a) for a in attacks}, torch.device(device), seed)
    for a in attacks:
        out[a]["tap_cosine"] = cosine[a] / max(out["num_samples"], 1)
    return out
