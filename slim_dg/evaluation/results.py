"""``results.json`` (DESIGN §5): the one file every run writes and every tool reads."""
from __future__ import annotations

import json
import os

RESULTS_FILE = "results.json"
REQUIRED_KEYS = ("dataset", "trainer", "backbone", "seed", "source_domains", "target_domains",
                 "target", "source_val", "epoch")


def make_results(cfg, target: dict, source_val: dict, epoch: int) -> dict:
    return {
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


def validate_results(res: dict) -> None:
    """Raise ``ValueError`` naming what does not follow the schema."""
    missing = [k for k in REQUIRED_KEYS if k not in res]
    if missing:
        raise ValueError(f"results.json lacks keys {missing}")
    if sorted(res["target"]) != sorted(res["target_domains"]):
        raise ValueError(f"target reports {sorted(res['target'])}, expected each of {res['target_domains']}")
    for part in ("target", "source_val"):
        for dom, m in res[part].items():
            if not {"accuracy", "num_samples"} <= set(m) <= {"accuracy", "num_samples", "num_skipped"}:
                raise ValueError(f"{part}.{dom} must hold accuracy and num_samples (and optionally num_skipped), "
                                 f"got {sorted(m)}")
            if not (0.0 <= m["accuracy"] <= 100.0) or not isinstance(m["num_samples"], int):
                raise ValueError(f"{part}.{dom}: accuracy must be a percent and num_samples an int: {m}")


def write_results(output_dir: str, res: dict) -> str:
    validate_results(res)
    path = os.path.join(output_dir, RESULTS_FILE)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(res, f, indent=2)
    os.replace(tmp, path)  # readers never see a half-written file
    return path


def format_table(res: dict) -> str:
    """A small per-domain table for the end of a run."""
    rows = [("target", d, m) for d, m in res["target"].items()] + \
           [("source val", d, m) for d, m in res["source_val"].items()]
    width = max([len(d) for _, d, _ in rows] + [6])
    lines = [f"{'split':<10}  {'domain':<{width}}  {'acc (%)':>7}  {'n':>6}", "-" * (29 + width)]
    lines += [f"{s:<10}  {d:<{width}}  {m['accuracy']:7.2f}  {m['num_samples']:6d}" for s, d, m in rows]
    return "\n".join(lines)
