"""White-box robustness per domain: FGSM and PGD-CE from torchattacks, and PGD-CS (ours).

torchattacks works in [0, 1] pixel space; told our normalisation (``set_normalization_used``) it
takes our normalised batches, attacks their pixels, and returns them normalised again.

PGD-CS is not in torchattacks: a PGD in the same L_inf ball that *minimises the cosine similarity*
of one tap's features to the clean ones, i.e. an intermediate-layer attack. It is our ``PGD``
adversary (the one SLIM-DG trains with) ascending ``TapCosine`` in eval mode, through the same
``pgd_attack`` that selects robust checkpoints. Accuracies are counted by ``attack_accuracy``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..adversarial.objectives import Objective
from ..adversarial.slim import intermediate_loss
from ..evaluation.adversarial import attack_accuracy, pgd_attack

ATTACKS = ("fgsm", "pgd_ce", "pgd_cs")


def _torchattacks():
    try:
        import torchattacks
    except ImportError as e:
        raise ImportError("The attacks need torchattacks: pip install -e \".[analysis]\" "
                          "(or pip install torchattacks)") from e
    return torchattacks


class TapCosine(Objective):
    """The PGD-CS objective: ``-cos(h_tap(x̃), h_tap(x))``, to ascend (an adversary objective)."""

    def __init__(self, tap: int):
        self.tap = tap
        self.clean_taps = [tap]

    def begin_step(self) -> list[int]:
        return [self.tap]

    def __call__(self, logits, y, adv_taps=None, clean_taps=None) -> torch.Tensor:
        return intermediate_loss(adv_taps[self.tap], clean_taps[self.tap], "cosine")


class Attacker:
    """Runs the attacks of ``ATTACKS`` on normalised batches of a ``Classifier``."""

    def __init__(self, model: nn.Module, pixel_mean, pixel_std, eps: float = 8 / 255, steps: int = 10,
                 step_size: float = 2 / 255, tap: int = -1):
        self.model, self.eps, self.steps, self.step_size = model, eps, steps, step_size
        self.tap = model.backbone.tap_index(tap)
        ta = _torchattacks()
        self.fgsm = ta.FGSM(model, eps=eps)
        self.pgd_ce = ta.PGD(model, eps=eps, alpha=step_size, steps=steps, random_start=True)
        for atk in (self.fgsm, self.pgd_ce):
            atk.set_normalization_used(mean=list(pixel_mean), std=list(pixel_std))
        self.pgd_cs = pgd_attack(model, eps, steps, step_size, pixel_mean, pixel_std, TapCosine(self.tap))

    def attack(self, name: str, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The adversarial version of the normalised batch ``x`` (also normalised)."""
        if name in ATTACKS:
            return getattr(self, name)(x, y).detach()
        raise KeyError(f"Unknown attack '{name}'. Available: {', '.join(ATTACKS)}")

    @torch.no_grad()
    def tap_cosine(self, x: torch.Tensor, x_adv: torch.Tensor) -> torch.Tensor:
        """Per-sample cosine of the chosen tap's features, adversarial vs clean (eval mode)."""
        self.model.eval()
        h = self.model(x, taps=[self.tap])[1][self.tap].flatten(1)
        h_adv = self.model(x_adv, taps=[self.tap])[1][self.tap].flatten(1)
        return F.cosine_similarity(h_adv, h, dim=1)


def robustness(attacker: Attacker, loader, device, attacks=ATTACKS, seed: int = 0) -> dict:
    """Clean and per-attack accuracy (percent) on one domain's loader, plus the tap cosine under each attack."""
    cosine = {a: 0.0 for a in attacks}

    def recording_cosine(name):
        def attack(x, y):
            x_adv = attacker.attack(name, x, y)
            cosine[name] += attacker.tap_cosine(x, x_adv).sum().item()
            return x_adv
        return attack

    out = attack_accuracy(attacker.model, loader, {a: recording_cosine(a) for a in attacks}, torch.device(device),
                          seed)
    for a in attacks:
        out[a]["tap_cosine"] = cosine[a] / max(out["num_samples"], 1)
    return out
