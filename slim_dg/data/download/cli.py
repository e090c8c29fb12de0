"""``tools/download.py --dataset NAME [--root DIR] [--verify]``: install a dataset, or check one
(complete, the published counts, every image decodes); a download is checked the same way."""
from __future__ import annotations

import argparse
import logging
import sys

from ..build import DATASET_REGISTRY, available_cpus
from ..datasets.base import DatasetMissingError
from ..datasets.downloadable import DownloadableDataset
from ...utils.disk import DiskFullError
from .install import DownloadError
from ..verify_images import describe_unreadable, find_unreadable, listed_images
from .verify import verify_dataset

logger = logging.getLogger("slim_dg.download")


def downloadable_names() -> list[str]:
    return [n for n in DATASET_REGISTRY.names() if issubclass(DATASET_REGISTRY.get(n), DownloadableDataset)]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Download a DG dataset into DATASET.ROOT, or --verify one already there.")
    p.add_argument("--dataset", required=True, help=f"one of: {', '.join(downloadable_names())}")
    p.add_argument("--root", default="datasets", help="dataset root (DATASET.ROOT); default: datasets")
    p.add_argument("--verify", action="store_true",
                   help="only check that the dataset is complete, has the published image counts and that every "
                        "image decodes")
    p.add_argument("--keep-archives", action="store_true", help="keep the downloaded archives in ROOT/.downloads")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds before a silent connection counts as down")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _verify(cls, root: str) -> int:
    report = verify_dataset(cls, root)
    print(report.format())
    # every listed image decoded once: a corrupt file shows now, not mid-epoch
    ds = cls.open(root)
    paths = listed_images(ds.load_domain(d).all for d in ds.domains)
    bad = find_unreadable(paths, threads=min(8, available_cpus()))
    print(describe_unreadable(bad, len(paths)) if bad else f"  all {len(paths)} images decode")
    return 0 if report.ok and not bad else 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        cls = DATASET_REGISTRY.get(args.dataset)  # KeyError lists the valid names
        if not issubclass(cls, DownloadableDataset):
            print(f"{args.dataset} has nothing to download: digits_dg is generated on first use and image_folder "
                  "is your own data (its layout is checked when a run starts).")
            return 0
        if not args.verify:
            cls.download(args.root, timeout=args.timeout, progress=not args.no_progress,
                         keep_archives=args.keep_archives)
        return _verify(cls, args.root)
    except KeyError as e:
        print(f"error: {e.args[0]}", file=sys.stderr)
        return 2
    except (DownloadError, DatasetMissingError, DiskFullError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
