"""The LODO table from a tree of ``results.json`` files (and nothing else: no logs are read).

A run's column is its directory between the dataset and the target,
``OUT/<dataset>/<method>[/<grid point>]/<target>/seed<k>`` -> ``method[/grid point]``; its dataset,
seed and target domains come from its ``results.json``. A cell (target row, column) holds one
selected accuracy per seed and shows their mean and *sample* standard deviation (ddof=1, as DG
papers report it). A cell with fewer seeds than expected is marked, never passed off as complete;
the ``Avg`` row of a column is computed only when every target has the full, same set of seeds
(then it is the mean and sample std over seeds of each seed's average over targets).

The seeds of one cell, and the targets of one column (they make its Avg), must come from the same
code and weights: runs whose ``provenance`` names different git commits or weight tags are refused
(``allow_mixed`` accepts them, with a warning).
"""
from __future__ import annotations

import logging
import math
import os
import statistics
from dataclasses import dataclass, field

from ..errors import InputError
from .results import RESULTS_FILE, read_results
from .selection import SelectionMethod

AVG_NAME = "Avg"
UNRECORDED = "(not recorded)"  # results.json written before provenance existed
# what the seeds of one cell must share: label -> its value in a results.json's provenance
SHARED_PROVENANCE = {"git commit": lambda p: p["git"]["commit"], "weights": lambda p: p["weights"]}
logger = logging.getLogger(__name__)


@dataclass
class RunRecord:
    path: str
    column: str
    results: dict

    @property
    def dataset(self) -> str:
        return self.results["dataset"]

    @property
    def seed(self) -> int:
        return self.results["seed"]


@dataclass
class Cell:
    values: dict[int, float] = field(default_factory=dict)  # seed -> accuracy (%)
    epochs: dict[int, int] = field(default_factory=dict)  # seed -> the selected evaluation's epoch

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values.values()) if self.values else math.nan

    @property
    def std(self) -> float:
        """Sample standard deviation over seeds (ddof=1); NaN for fewer than two seeds."""
        return statistics.stdev(self.values.values()) if self.n > 1 else math.nan


@dataclass
class LodoTable:
    dataset: str
    selection: type[SelectionMethod]
    targets: list[str]
    columns: list[str]
    expected: int  # seeds a complete cell has
    cells: dict[tuple[str, str], Cell]  # (target, column)
    avg: dict[str, Cell | None]  # column -> Avg cell, None when some target is incomplete

    def complete(self, cell: Cell | None) -> bool:
        return cell is not None and cell.n == self.expected


def find_results(root: str) -> list[str]:
    """Every run's results.json under ``root``; not those inside a run (``eval/`` of --eval-only)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        if RESULTS_FILE in filenames:
            found.append(os.path.join(dirpath, RESULTS_FILE))
            dirnames.clear()
    return found


def load_records(root: str) -> list[RunRecord]:
    records = []
    for path in find_results(root):
        res = read_results(path)  # ValueError naming the file
        parts = os.path.relpath(os.path.dirname(path), root).split(os.sep)[:-2]  # minus <target>/seed<k>
        if parts and parts[0] == res["dataset"]:
            parts = parts[1:]
        records.append(RunRecord(path, "/".join(parts) or res["trainer"], res))
    return records


def _domain_order(dataset: str, found: set[str]) -> list[str]:
    from ..data import DATASET_REGISTRY

    declared = list(DATASET_REGISTRY.get(dataset).domains) if dataset in DATASET_REGISTRY else []
    return [d for d in declared if d in found] + sorted(found - set(declared))


def provenance_differences(items: list[tuple[str, dict]], noun: str = "seed") -> list[str]:
    """What the results ``(name, results.json)`` differ in, among ``SHARED_PROVENANCE``, e.g.
    ``"weights: a (seeds 1, 2), b (seed 3)"``; empty when they agree."""
    found = []
    for label, get in SHARED_PROVENANCE.items():
        names: dict[str, list[str]] = {}
        for name, res in items:
            prov = res.get("provenance")
            names.setdefault(get(prov) if prov else UNRECORDED, []).append(name)
        if len(names) > 1:
            found.append(f"{label}: " + ", ".join(f"{value} ({noun}{'s' if len(n) > 1 else ''} {', '.join(n)})"
                                                  for value, n in names.items()))
    return found


def _check_mixed(dataset: str, runs: dict[tuple[str, str], list[RunRecord]], allow_mixed: bool) -> None:
    """Each cell's seeds, and then each column's targets (its Avg cell), must agree in provenance."""
    mixed = []
    for col in sorted({c for _, c in runs}):
        cells = {t: sorted(recs, key=lambda r: r.seed) for (t, c), recs in sorted(runs.items()) if c == col}
        in_cells = [f"{dataset} {col}, target {target}: {'; '.join(diff)}" for target, recs in cells.items()
                    if (diff := provenance_differences([(str(r.seed), r.results) for r in recs]))]
        # uniform cells can still differ from each other, and the Avg row would mix them
        across = [] if in_cells else provenance_differences([(t, recs[0].results) for t, recs in cells.items()],
                                                            "target")
        mixed += in_cells + ([f"{dataset} {col}, {AVG_NAME}: {'; '.join(across)}"] if across else [])
    if not mixed:
        return
    if allow_mixed:
        logger.warning("Cells mix runs made differently (--allow-mixed):\n  %s", "\n  ".join(mixed))
        return
    raise InputError("Runs made differently would share a cell:\n  " + "\n  ".join(mixed) +
                     "\nRe-run them with one commit and the same weights, or pass --allow-mixed to combine them.")


def build_tables(records: list[RunRecord], selection: type[SelectionMethod],
                 expected_seeds: int | None = None, allow_mixed: bool = False) -> list[LodoTable]:
    """One table per dataset; ``expected_seeds`` defaults to the most seeds any cell of it has. Cells
    whose runs differ in git commit or weights raise ``ValueError`` unless ``allow_mixed``."""
    tables = []
    for dataset in sorted({r.dataset for r in records}):
        cells: dict[tuple[str, str], Cell] = {}
        origin: dict[tuple[str, str, int], str] = {}
        runs: dict[tuple[str, str], list[RunRecord]] = {}
        for r in (r for r in records if r.dataset == dataset):
            try:
                chosen = selection.select(r.results)
            except ValueError as e:
                raise InputError(f"{r.path}: {e}") from e
            for target in r.results["target_domains"]:
                key = (target, r.column, r.seed)
                if key in origin:
                    raise InputError(f"Two runs for {dataset} {r.column} target {target} seed {r.seed}: "
                                     f"{origin[key]} and {r.path}")
                origin[key] = r.path
                runs.setdefault((target, r.column), []).append(r)
                cell = cells.setdefault((target, r.column), Cell())
                cell.values[r.seed] = chosen["target"][target]["accuracy"]
                cell.epochs[r.seed] = chosen["epoch"]
        _check_mixed(dataset, runs, allow_mixed)
        targets = _domain_order(dataset, {t for t, _ in cells})
        columns = sorted({c for _, c in cells})
        expected = expected_seeds or max(c.n for c in cells.values())
        avg: dict[str, Cell | None] = {}
        for col in columns:
            row = [cells.get((t, col)) for t in targets]
            seeds = set(row[0].values) if row[0] else set()
            if all(c is not None and c.n == expected and set(c.values) == seeds for c in row):
                avg[col] = Cell({s: statistics.fmean(c.values[s] for c in row) for s in sorted(seeds)})
            else:
                avg[col] = None
        tables.append(LodoTable(dataset, selection, targets, columns, expected, cells, avg))
    return tables
