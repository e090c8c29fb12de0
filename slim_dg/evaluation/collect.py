"""The ``tools/collect.py`` command line: LODO tables (and figures) from a sweep's results.json files.

Writes ``<dataset>_<selection>.{md,csv,tex}`` (and with ``--plot`` the PNGs) into
``--output-dir`` (default ``OUT/collect``) and prints the Markdown tables.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

from ..errors import InputError, MissingFileError
from ..utils.disk import DiskFullError, write_text_atomic
from ..utils.logger import setup_logging
from .lodo import build_tables, load_records
from .selection import SELECTION_REGISTRY, evaluations, get_selection
from .tables import FORMATS, to_markdown

logger = logging.getLogger("slim_dg.collect")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="LODO tables from the results.json files under OUT (never from logs).")
    p.add_argument("root", metavar="OUT", help="a sweep's --output-dir (any tree of run directories)")
    p.add_argument("--selection", default="source_val",
                   help=f"model selection rule(s), comma-separated: {', '.join(SELECTION_REGISTRY.names())} "
                        "(default: source_val, i.e. training-domain validation)")
    p.add_argument("--format", default="md,csv,latex", help=f"comma-separated: {', '.join(FORMATS)}")
    p.add_argument("--seeds", type=int, default=None, metavar="N",
                   help="seeds a complete cell has (default: the most any cell of the dataset has)")
    p.add_argument("--plot", action="store_true", help="also write PNG bar charts and training curves")
    p.add_argument("--precision", type=int, default=1, help="decimals in Markdown/LaTeX (CSV is unrounded)")
    p.add_argument("--output-dir", default="", help="where tables and figures go (default: OUT/collect)")
    p.add_argument("--allow-mixed", action="store_true",
                   help="put runs with different git commits or weights (results.json provenance) in one cell")
    return p


def collect(root: str, selections: list[str], formats: list[str], output_dir: str, expected_seeds: int | None = None,
            plot: bool = False, precision: int = 1, allow_mixed: bool = False) -> list[str]:
    """Write the tables (and figures); return the paths written."""
    records = load_records(root)
    if not records:
        raise MissingFileError(f"No results.json under {root}")
    single = sum(len(evaluations(r.results)) == 1 for r in records)
    if single and any(name != "last" for name in selections):
        logger.warning("%d of %d runs recorded a single evaluation (TRAIN.EVAL_FREQ 0): every selection rule "
                       "reports their last epoch. Sweep with --opts TRAIN.EVAL_FREQ 1 to select among epochs.",
                       single, len(records))
    written = []
    for name in selections:
        for table in build_tables(records, get_selection(name), expected_seeds, allow_mixed):
            stem = os.path.join(output_dir, f"{table.dataset}_{name}")
            for fmt in formats:
                ext, write = FORMATS[fmt]
                written.append(write_text_atomic(f"{stem}.{ext}", write(table, precision), f"the {fmt} table"))
            print(to_markdown(table, precision))
            if plot:
                from .plots import bar_chart

                written.append(bar_chart(table, f"{stem}_bars.png"))
    if plot:
        from .plots import loss_curves, training_curves

        for dataset in sorted({r.dataset for r in records}):
            mine = [r for r in records if r.dataset == dataset]
            written.append(training_curves(mine, os.path.join(output_dir, f"{dataset}_curves.png")))
            loss = loss_curves(mine, os.path.join(output_dir, f"{dataset}_loss.png"))
            written += [loss] if loss else []
    return written


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(None)
    selections = [s.strip() for s in args.selection.split(",") if s.strip()]
    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    try:
        for s in selections:
            get_selection(s)
        unknown = [f for f in formats if f not in FORMATS]
        if unknown:
            raise InputError(f"Unknown --format {', '.join(unknown)}; choose from {', '.join(FORMATS)}")
        written = collect(args.root, selections, formats, args.output_dir or os.path.join(args.root, "collect"),
                          args.seeds, args.plot, args.precision, args.allow_mixed)
    except InputError as e:  # bad input: one line; anything else is a bug and keeps its traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    except DiskFullError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    logger.info("Wrote %s", ", ".join(written))
    return 0
