"""The adversarial training step (DESIGN §2), as one function every trainer calls.

``AdversarialTrainer`` (ours) and the Dassl trainers of ``slim_dg.integrations.dassl`` both compute
their losses with ``adversarial_losses``, so the step exists once:

 1. clean forward with grad (its detached taps are the objective's clean features when
    ``reuse_clean_taps``, i.e. when the training forward runs in the adversary's BN mode; otherwise
    ``clean_pass`` computes them, invisibly to BN statistics and to the random stream);
 2. ``objective.start_batch()``, then the adversary's inner loop ascends the objective over the
    adversary's own parameters;
 3. forward of the adversarial batch; one CE over ``cat(clean, adv)`` logits (``{"ce": ...}``), or
    over the adversarial logits only when not training on clean images (``{"ce_adv": ...}``).

With ``joint_forward`` (``ADV.JOINT_FORWARD``) steps 1 and 3 become one forward of
``cat([x, x̃])`` after the inner loop: clean and adversarial images share one BN batch, as public
AdvStyle re-implementations do; by default they are two batches (DESIGN §2).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import Adversary, inner_loop_model
from .build import build_adversary
from .clean_pass import clean_taps
from .objectives import OutputLoss
from .slim import SLIM


def build_adversary_and_objective(cfg, model: nn.Module, adversary_name: str = "", use_slim: bool | None = None):
    """The adversary (``adversary_name``, or ``cfg.ADV.NAME`` when empty) and the objective it ascends
    (SLIM when ``use_slim``, or ``cfg.SLIM.ENABLED`` when None; else the plain output loss)."""
    name = adversary_name or cfg.ADV.NAME
    if not name:
        raise ValueError("TRAINER.NAME Adversarial needs ADV.NAME (e.g. advstyle, pgd, feat_advstyle)")
    adversary = build_adversary(name, cfg, model)
    slim = cfg.SLIM.ENABLED if use_slim is None else use_slim
    objective = SLIM.from_config(cfg, model.backbone) if slim else OutputLoss()
    return adversary, objective


def reuses_clean_taps(adversary: Adversary, train_on_clean: bool) -> bool:
    """Whether the training forward can provide the clean taps (it runs in the adversary's BN mode)."""
    return train_on_clean and adversary.bn_mode == "train"


def adversarial_losses(model: nn.Module, adversary: Adversary, objective, x: torch.Tensor, y: torch.Tensor,
                       train_on_clean: bool, reuse_clean_taps: bool,
                       joint_forward: bool = False) -> dict[str, torch.Tensor]:
    """The losses of one training step; the caller backpropagates their sum and steps."""
    need = objective.clean_taps
    separate_clean = train_on_clean and not joint_forward  # a clean training forward before the inner loop
    logits_clean, taps = None, {}
    if separate_clean:
        if need and reuse_clean_taps:
            logits_clean, taps = model(x, taps=need)
            taps = {k: v.detach() for k, v in taps.items()}
        else:
            logits_clean = model(x)
    inner = inner_loop_model(model)  # bare and uncompiled; the training forwards stay on ``model``
    if need and not taps:
        taps = clean_taps(inner, adversary, x, need)
    objective.start_batch()
    params = adversary.perturb(inner, x, y, objective, taps)
    if train_on_clean and joint_forward:
        return {"ce": F.cross_entropy(adversary.joint_forward(model, x, params), torch.cat([y, y]))}
    logits_adv = adversary.forward(model, x, params)
    if logits_clean is None:
        return {"ce_adv": F.cross_entropy(logits_adv, y)}
    return {"ce": F.cross_entropy(torch.cat([logits_clean, logits_adv]), torch.cat([y, y]))}
