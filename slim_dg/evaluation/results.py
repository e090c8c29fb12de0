"""``results.json`` (DESIGN §5): the one file every run writes and every tool reads.

Besides the final evaluation (``target``, ``source_val``, ``epoch``), ``history`` lists every
evaluation of the run, ``{"epoch", "target", "source_val"}`` each, oldest first, so that a model
can be selected afterwards (``slim_dg.evaluation.selection``) without re-running anything.
``num_classes_seen`` gives each domain's number of classes (``slim_dg.data.class_sets``), and
``num_unseen_class_images`` (open-set runs) each target's images of classes no source trains on.
``provenance`` (``provenance.py``) says how the run was made: code, command, versions, device, weights, data.
"""
from __future__ import annotations

import json
import os

from ..errors import InputError
from ..utils.disk import write_text_atomic
from .provenance import validate_provenance

RESULTS_FILE = "results.json"
COUNT_KEYS = ("num_classes_seen", "num_unseen_class_images")  # optional {domain: count} maps
REQUIRED_KEYS = ("dataset", "trainer", "backbone", "seed", "source_domains", "target_domains",
                 "target", "source_val", "epoch")


def make_results(cfg, target: dict, source_val: dict, epoch: int, history: list[dict] | None = None) -> dict:
    res = {
        "dataset": cfg.DATASET.NAME,
        "trainer": cfg.TRAINER.NAME,
        "backbone": cfg.MODEL.BACKBONE.NAME,
        "seed": cfg.SEED,
        "source_domains": list(cfg.DATASET.SOURCE_DOMAINS),
        "target_domains": list(cfg.DATASET.TARGET_DOMAINS),
        "target": target,
        "source_val": source_val,
        "epoch": epoch,
    }
    if history is not None:
        res["history"] = [dict(h) for h in history]
    return res


def validate_results(res: dict) -> None:
    """Raise ``ValueError`` naming what does not follow the schema."""
    missing = [k for k in REQUIRED_KEYS if k not in res]
    if missing:
        raise ValueError(f"results.json lacks keys {missing}")
    if sorted(res["target"]) != sorted(res["target_domains"]):
        raise ValueError(f"target reports {sorted(res['target'])}, expected each of {res['target_domains']}")
    _check_metrics(res, "")
    for key in COUNT_KEYS:
        counts = res.get(key, {})
        if not isinstance(counts, dict) or not all(isinstance(n, int) and n >= 0 for n in counts.values()):
            raise ValueError(f"{key} must map each domain to a count, got {counts!r}")
    if "provenance" in res:  # older runs have none
        validate_provenance(res["provenance"])
    history = res.get("history", [])
    if not isinstance(history, list):
        raise ValueError(f"history must be a list of evaluations, got {type(history).__name__}")
    for i, entry in enumerate(history):
        if not isinstance(entry, dict) or set(entry) != {"epoch", "target", "source_val"} \
                or not isinstance(entry["epoch"], int):
            raise ValueError(f"history[{i}] must be {{'epoch': int, 'target': ..., 'source_val': ...}}, got {entry!r}")
        if sorted(entry["target"]) != sorted(res["target_domains"]):
            raise ValueError(f"history[{i}].target reports {sorted(entry['target'])}, "
                             f"expected each of {res['target_domains']}")
        _check_metrics(entry, f"history[{i}].")


def _check_metrics(res: dict, where: str) -> None:
    for part in ("target", "source_val"):
        for dom, m in res[part].items():
            if not {"accuracy", "num_samples"} <= set(m) <= {"accuracy", "num_samples", "num_skipped"}:
                raise ValueError(f"{where}{part}.{dom} must hold accuracy and num_samples (and optionally "
                                 f"num_skipped), got {sorted(m)}")
            if not (0.0 <= m["accuracy"] <= 100.0) or not isinstance(m["num_samples"], int):
                raise ValueError(f"{where}{part}.{dom}: accuracy must be a percent and num_samples an int: {m}")


def write_results(output_dir: str, res: dict) -> str:
    validate_results(res)
    # readers never see a half-written file; a full disk leaves the run resumable (it evaluates again)
    return write_text_atomic(os.path.join(output_dir, RESULTS_FILE), json.dumps(res, indent=2), "the results",
                             then=f"free some space, then run again (a finished training run: `python tools/train.py "
                                  f"--resume {output_dir}` only evaluates again)")


def format_table(res: dict) -> str:
    """A small per-domain table for the end of a run."""
    rows = [("target", d, m) for d, m in res["target"].items()] + \
           [("source val", d, m) for d, m in res["source_val"].items()]
    width = max([len(d) for _, d, _ in rows] + [6])
    lines = [f"{'split':<10}  {'domain':<{width}}  {'acc (%)':>7}  {'n':>6}", "-" * (29 + width)]
    lines += [f"{s:<10}  {d:<{width}}  {m['accuracy']:7.2f}  {m['num_samples']:6d}" for s, d, m in rows]
    return "\n".join(lines)


def read_results(path: str) -> dict:
    """A ``results.json`` that follows the schema; ``InputError`` (a ``ValueError``) naming the file otherwise
    (unreadable, truncated, or not following the schema)."""
    try:
        with open(path) as f:
            res = json.load(f)
        if not isinstance(res, dict):
            raise ValueError(f"expected a JSON object, got {type(res).__name__}")
        validate_results(res)
    except (OSError, ValueError) as e:  # json.JSONDecodeError is a ValueError
        raise InputError(f"{path}: {e}") from e
    return res
