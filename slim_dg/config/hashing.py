"""What makes two resolved configs the same run: every key except where the run is written."""
from __future__ import annotations

import hashlib

from yacs.config import CfgNode as CN

_IGNORED = {"OUTPUT_DIR"}


def flatten(cfg: CN, prefix: str = "") -> dict:
    out = {}
    for k, v in cfg.items():
        key = f"{prefix}{k}"
        out.update(flatten(v, key + ".") if isinstance(v, CN) else {key: list(v) if isinstance(v, tuple) else v})
    return out


def config_hash(cfg: CN) -> str:
    items = sorted((k, repr(v)) for k, v in flatten(cfg).items() if k not in _IGNORED)
    return hashlib.sha256(repr(items).encode()).hexdigest()[:16]


def config_diff(old: CN, new: CN) -> list[str]:
    """``KEY: old -> new`` for every key whose value differs (OUTPUT_DIR aside)."""
    a, b = flatten(old), flatten(new)
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b))
            if k not in _IGNORED and a.get(k) != b.get(k)]
