"""White-box robustness of a trained run's best and last checkpoints (Rice et al., 2020).

Attacks, all in the L_inf ball of radius ``eps`` on the model in eval mode:

* ``fgsm``: torchattacks' FGSM; ``pgd20``: torchattacks' PGD on the CE, ``steps`` steps from a
  random start;
* ``cw``: CW∞, our PGD adversary ascending the Carlini-Wagner margin ``max_{k≠y} z_k − z_y``
  (logits ``z``; no confidence clamp), from a random start;
* ``autoattack``: AutoAttack as published tables report it, the reference implementation's standard
  version (APGD-CE, APGD-T, FAB-T, Square; Croce & Hein, 2020; ``reference_autoattack``); refused
  with its install line when it is not installed;
* ``aa_lite``: torchattacks' AutoAttack, standard version, whose APGD-CE, APGD-T and FAB-T run 10
  iterations instead of the reference's 100: faster, weaker, and not comparable with published
  AutoAttack numbers (only on request, never in place of ``autoattack``);
* ``pgd_cs``: the intermediate-layer attack of ``slim_dg.analysis.attacks``.

Checkpoints: *last* is the newest periodic checkpoint; *best* is ``model-best-pgd.pt`` (kept during
training by the PGD accuracy on the validation split, ``RobustValHook``), or, for runs without it,
the kept periodic checkpoint with the highest PGD accuracy on the validation split, found here.
"""
from __future__ import annotations

import logging
import os

import torch
from torch import nn

from ..adversarial.objectives import Objective
from ..engine.checkpoint import CHECKPOINT_DIR, list_checkpoints, load_checkpoint
from ..evaluation.adversarial import attack_accuracy, pgd_attack
from .attacks import Attacker, _torchattacks
from .reference_autoattack import TARGET_CLASSES, autoattack_attack, require_reference
from .run import TrainedRun, load_run

logger = logging.getLogger("slim_dg.analysis")
ROBUST_ATTACKS = ("fgsm", "pgd20", "cw", "autoattack", "aa_lite", "pgd_cs")
DEFAULT_ATTACKS = ("fgsm", "pgd20", "cw", "autoattack", "pgd_cs")  # the standard table
COLUMNS = {"clean": "Clean", "fgsm": "FGSM", "pgd20": "PGD-20", "cw": "CW∞", "autoattack": "AutoAttack",
           "aa_lite": "AA-lite (10 it.)", "pgd_cs": "PGD-CS"}
BEST_PGD = "model-best-pgd.pt"  # written by slim_dg.engine.robust.RobustValHook


class CWMargin(Objective):
    """The CW∞ objective to ascend: the batch mean of ``max_{k≠y} z_k − z_y``."""

    def __call__(self, logits, y, adv_taps=None, clean_taps=None) -> torch.Tensor:
        true = logits.gather(1, y[:, None]).squeeze(1)
        other = logits.scatter(1, y[:, None], float("-inf")).max(1).values
        return (other - true).mean()


def check_attacks(names, num_classes: int | None = None) -> None:
    """Refuse unknown attacks, and attacks whose package is missing (with its install line) or that
    cannot attack a ``num_classes`` model, before any work."""
    unknown = [n for n in names if n not in ROBUST_ATTACKS]
    if unknown:
        raise KeyError(f"Unknown attack(s) {unknown}. Available: {', '.join(ROBUST_ATTACKS)}")
    if "autoattack" in names:
        require_reference(num_classes)
    if set(names) - {"cw", "autoattack"}:
        _torchattacks()


def build_attacks(model: nn.Module, pixel_mean, pixel_std, num_classes: int, names=DEFAULT_ATTACKS,
                  eps: float = 8 / 255, steps: int = 20, step_size: float = 2 / 255, tap: int | str = -1,
                  seed: int = 0) -> dict:
    """``{name: attack(x, y) -> x̃}`` on normalised batches, for ``names`` in ``ROBUST_ATTACKS``."""
    check_attacks(names, num_classes)
    if {"fgsm", "pgd20", "pgd_cs"} & set(names):
        attacker = Attacker(model, pixel_mean, pixel_std, eps=eps, steps=steps, step_size=step_size, tap=tap)
    out = {}
    for name in names:
        if name == "fgsm":
            out[name] = lambda x, y: attacker.attack("fgsm", x, y)
        elif name == "pgd20":
            out[name] = lambda x, y: attacker.attack("pgd_ce", x, y)
        elif name == "pgd_cs":
            out[name] = lambda x, y: attacker.attack("pgd_cs", x, y)
        elif name == "cw":
            out[name] = pgd_attack(model, eps, steps, step_size, pixel_mean, pixel_std, objective=CWMargin())
        elif name == "autoattack":
            out[name] = autoattack_attack(model, pixel_mean, pixel_std, eps, num_classes, seed)
        elif name == "aa_lite":
            # torchattacks targets n_classes - 1 classes: capped to the reference's 9 (CIFAR-100: not 99)
            aa = _torchattacks().AutoAttack(model, norm="Linf", eps=eps, version="standard",
                                            n_classes=min(num_classes, TARGET_CLASSES + 1), seed=seed)
            aa.set_normalization_used(mean=list(pixel_mean), std=list(pixel_std))
            out[name] = aa
    return out


def _load_weights(run: TrainedRun, path: str) -> dict:
    state = load_checkpoint(path, "cpu")
    run.model.load_state_dict(state["model"])
    run.model.to(run.device).eval()
    return state


def _same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _val_loader(run: TrainedRun):
    names = [k for k in run.loaders if k.endswith(" (val)")]
    if not names:
        raise ValueError(f"{run.run_dir} has no validation split (DATASET.VAL_RATIO 0): no best checkpoint to pick")
    return names[0], run.loaders[names[0]]


def select_best(run: TrainedRun, val_steps: int, seed: int = 0) -> dict:
    """The best checkpoint by PGD-``val_steps`` accuracy on the validation split."""
    ckpt_dir = os.path.join(run.run_dir, CHECKPOINT_DIR)
    kept = os.path.join(ckpt_dir, BEST_PGD)
    if os.path.isfile(kept):
        state = load_checkpoint(kept, "cpu")
        hook = state.get("hooks", {}).get("RobustValHook", {})
        entry = next((h for h in hook.get("history", []) if h["epoch"] == hook.get("best_epoch")), None)
        val = next(iter(entry["val"].values())) if entry else {}
        return {"checkpoint": BEST_PGD, "epoch": int(state["epoch"]), "val_pgd": val.get("pgd"),
                "val_clean": val.get("clean"), "selected_by": "PGD accuracy on the validation split after "
                f"every epoch (TEST.ROBUST_VAL_STEPS {run.cfg.TEST.ROBUST_VAL_STEPS})"}
    paths = list_checkpoints(run.run_dir)
    if not paths:
        raise FileNotFoundError(f"No checkpoint in {ckpt_dir}")
    split, loader = _val_loader(run)
    cfg = run.cfg
    scores = []
    for path in paths:
        state = _load_weights(run, path)
        attack = pgd_attack(run.model, cfg.ADV.EPS, val_steps, cfg.ADV.STEP_SIZE, cfg.INPUT.PIXEL_MEAN,
                            cfg.INPUT.PIXEL_STD)
        r = attack_accuracy(run.model, loader, {"pgd": attack}, run.device, seed=seed)
        scores.append((r["pgd"]["accuracy"], int(state["epoch"]), os.path.basename(path), r["clean"]["accuracy"]))
        logger.info("%s: PGD-%d %s accuracy %.2f%%", path, val_steps, split, r["pgd"]["accuracy"])
    pgd, epoch, name, clean = max(scores, key=lambda s: (s[0], -s[1]))  # ties: the earlier epoch
    return {"checkpoint": name, "epoch": epoch, "val_pgd": pgd, "val_clean": clean,
            "selected_by": f"PGD-{val_steps} accuracy on the validation split among the {len(paths)} kept "
                           "periodic checkpoints (the run kept no model-best-pgd.pt)"}


def evaluate_run(run_dir: str, names=DEFAULT_ATTACKS, max_images: int = 0, device: str = "cpu", eps: float = 8 / 255,
                 steps: int = 20, step_size: float = 2 / 255, tap: int | str = -1, val_steps: int = 10,
                 seed: int = 0, opts: list[str] | None = None) -> dict:
    """``{"threat_model": ..., "best": {...}, "last": {...}}``; each checkpoint entry holds its file,
    epoch and ``target: {domain: {"num_samples", "clean": {"accuracy"}, <attack>: {"accuracy"}}}``. When the
    best checkpoint holds the last weights, "last" repeats its numbers (``"same_as": "best"``)."""
    run = load_run(run_dir, None, device, opts)  # the newest periodic checkpoint: the last
    check_attacks(names, run.dataset.num_classes)
    last = {"checkpoint": os.path.basename(run.checkpoint), "epoch": int(load_checkpoint(run.checkpoint)["epoch"])}
    best = select_best(run, val_steps, seed)
    report = {"threat_model": {"norm": "Linf", "eps": eps, "steps": steps, "step_size": step_size,
                               "attacks": list(names), "max_images": max_images, "seed": seed}}
    weights = {}
    for which, entry in (("best", best), ("last", last)):
        weights[which] = _load_weights(run, os.path.join(run.run_dir, CHECKPOINT_DIR, entry["checkpoint"]))["model"]
        if which == "last" and _same_weights(weights["best"], weights["last"]):  # best is the last epoch
            entry["target"], entry["same_as"] = best["target"], "best"
            report[which] = entry
            continue
        attacks = build_attacks(run.model, run.cfg.INPUT.PIXEL_MEAN, run.cfg.INPUT.PIXEL_STD,
                                run.dataset.num_classes, names, eps, steps, step_size, tap, seed)
        entry["target"] = {}
        for domain in run.cfg.DATASET.TARGET_DOMAINS:
            loader = run.subset_loader(domain, max_images, seed)
            entry["target"][domain] = attack_accuracy(run.model, loader, attacks, run.device, seed=seed)
            logger.info("%s %s (%s, epoch %d) %s: %s", run.label, which, entry["checkpoint"], entry["epoch"], domain,
                        ", ".join(f"{COLUMNS[k]} {v['accuracy']:.2f}%" for k, v in entry["target"][domain].items()
                                  if k in COLUMNS))
        report[which] = entry
    report["trainer"], report["label"] = run.cfg.TRAINER.NAME, run.label
    return report


def markdown_table(reports: list[dict]) -> str:
    """One row per (run, best/last, target domain), accuracy in percent."""
    names = ["clean"] + [a for a in ROBUST_ATTACKS if any(a in r["threat_model"]["attacks"] for r in reports)]
    head = ["Run", "Checkpoint", "Epoch", "Domain", "n"] + [COLUMNS[n] for n in names]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 4 + ["---:"] * (len(head) - 4)) + "|"]
    for r in reports:
        for which in ("best", "last"):
            e = r[which]
            for domain, m in e["target"].items():
                cells = [r["label"], which, str(e["epoch"]), domain, str(m["num_samples"])]
                cells += [f"{m[n]['accuracy']:.2f}" if n in m else "–" for n in names]
                lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
