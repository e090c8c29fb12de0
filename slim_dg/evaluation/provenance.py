"""``results.json`` ``"provenance"``: how a result was made, so that a table can say it.

    {"version": "0.1.0", "git": {"commit": "<sha>" | "unknown", "dirty": true | false | "unknown"},
     "command": "python tools/train.py ...", "cwd": "...",
     "versions": {"python", "torch", "torchvision", "timm", "cuda"},
     "device": {"type": "cuda" | "cpu", "name": "<GPU or CPU model>", "count": <devices trained on>},
     "amp_dtype": "bfloat16" | "float16" | null, "weights": "resnet18.tv_in1k" | "random init" | ...,
     "data": {"images": {<domain>: n}, "published": {<domain>: n}, "matches_published": bool | null}}

``git`` describes the checkout the package was imported from; "unknown" (never an error) when it is
not a git work tree or git is not installed. ``dirty`` means tracked files differ from the commit.
"""
from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from collections import Counter

import timm
import torch
import torchvision

UNKNOWN = "unknown"
REQUIRED_KEYS = ("version", "git", "command", "versions", "device", "amp_dtype", "weights", "data")
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _git(args: list[str], cwd: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):  # no git binary, or a hung file system
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_state(path: str = PACKAGE_ROOT) -> dict:
    """The commit of the git work tree at ``path`` and whether tracked files were changed."""
    top = _git(["rev-parse", "--show-toplevel"], path)
    # the package must be the work tree's own code, not an install inside some other repository
    if top is None or os.path.realpath(top) != os.path.realpath(path):
        return {"commit": UNKNOWN, "dirty": UNKNOWN}
    commit = _git(["rev-parse", "HEAD"], path)
    status = _git(["status", "--porcelain", "--untracked-files=no"], path)
    return {"commit": commit or UNKNOWN, "dirty": UNKNOWN if status is None else bool(status)}


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or UNKNOWN


def device_info(device: torch.device, world_size: int = 1) -> dict:
    """The device type and model, and how many of them trained (DDP: one per process)."""
    if device.type == "cuda":
        return {"type": "cuda", "name": torch.cuda.get_device_name(device), "count": world_size}
    return {"type": device.type, "name": cpu_model(), "count": world_size, "cores": os.cpu_count(),
            "threads": torch.get_num_threads()}


def versions() -> dict:
    return {"python": platform.python_version(), "torch": torch.__version__, "torchvision": torchvision.__version__,
            "timm": timm.__version__, "cuda": torch.version.cuda}


def image_counts(dataset, root: str) -> dict:
    """Images per domain, verified against the published counts where the dataset has them (the check
    of ``tools/download.py --verify``); otherwise the images this run loaded, per domain."""
    from ..data.datasets.downloadable import DownloadableDataset
    from ..data.download.verify import verify_dataset

    if isinstance(dataset, DownloadableDataset):
        report = verify_dataset(type(dataset), root)
        return {"images": report.counts, "published": report.expected,
                "matches_published": report.ok if report.expected else None}
    counts = Counter(d.domain for d in dataset.train_x)
    for split in (dataset.val, dataset.test):
        for domain, data in split.items():
            counts[domain] += len(data)
    return {"images": dict(counts), "published": {}, "matches_published": None}


def make_provenance(cfg, device: torch.device, amp_dtype: torch.dtype | None, dataset, world_size: int = 1,
                    argv: list[str] | None = None) -> dict:
    from .. import __version__
    from ..modeling.weights import backbone_weights

    prov = {
        "version": __version__,
        "git": git_state(),
        "command": shlex.join(sys.orig_argv if argv is None else argv),
        "cwd": os.getcwd(),
        "versions": versions(),
        "device": device_info(device, world_size),
        "amp_dtype": None if amp_dtype is None else str(amp_dtype).removeprefix("torch."),
        "weights": backbone_weights(cfg),
        "data": image_counts(dataset, cfg.DATASET.ROOT),
    }
    if cfg.MODEL.INIT_WEIGHTS:  # the whole model, backbone included, then starts from this checkpoint
        prov["init_weights"] = cfg.MODEL.INIT_WEIGHTS
    return prov


def validate_provenance(prov) -> None:
    if not isinstance(prov, dict):
        raise ValueError(f"provenance must be an object, got {type(prov).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in prov]
    if missing:
        raise ValueError(f"provenance lacks keys {missing}")
    if not isinstance(prov["git"], dict) or set(prov["git"]) != {"commit", "dirty"}:
        raise ValueError(f"provenance.git must be {{'commit': ..., 'dirty': ...}}, got {prov['git']!r}")
