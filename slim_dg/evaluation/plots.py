"""PNG figures of a sweep, drawn with matplotlib's Agg canvas (no display, no pyplot state).

- ``bar_chart``: per target domain (and Avg), one bar per method with the seeds' sample std as
  error bar; incomplete cells are hatched;
- ``training_curves``: per target domain, source-val (dashed) and target (solid) accuracy at each
  evaluation, from ``results.json`` histories, averaged over seeds;
- ``loss_curves``: the training loss per step, read from the runs' TensorBoard events (only
  ``train/loss``; skipped when there are none).
"""
from __future__ import annotations

import logging
import math
import os
from collections import defaultdict

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .lodo import AVG_NAME, LodoTable, RunRecord
from .selection import evaluations, mean_accuracy

logger = logging.getLogger(__name__)


def _save(fig: Figure, path: str) -> str:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")  # a PNG through the Agg canvas
    return path


def bar_chart(table: LodoTable, path: str) -> str:
    rows = table.targets + [AVG_NAME]
    width = 0.8 / max(1, len(table.columns))
    fig = Figure(figsize=(1.6 + 1.3 * len(rows) * max(1, len(table.columns)) ** 0.5, 4))
    ax = fig.add_subplot()
    for i, col in enumerate(table.columns):
        cells = [table.cells.get((t, col)) for t in table.targets] + [table.avg.get(col)]
        means = [c.mean if c and c.n else math.nan for c in cells]
        stds = [0.0 if not c or math.isnan(c.std) else c.std for c in cells]
        x = np.arange(len(rows)) + (i - (len(table.columns) - 1) / 2) * width
        bars = ax.bar(x, means, width, yerr=stds, capsize=3, label=col)
        for bar, cell in zip(bars, cells):
            if not table.complete(cell):
                bar.set_hatch("//")
                bar.set_alpha(0.5)
    ax.set_xticks(np.arange(len(rows)), rows)
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"{table.dataset}, selection: {table.selection.label} (hatched: incomplete)", fontsize=9)
    ax.legend(fontsize=8)
    return _save(fig, path)


def _mean_curve(points: list[dict[int, float]]) -> tuple[list[int], list[float]]:
    """Average of several {x: y} curves at each x (over the curves that have it)."""
    acc = defaultdict(list)
    for curve in points:
        for x, y in curve.items():
            acc[x].append(y)
    xs = sorted(acc)
    return xs, [float(np.mean(acc[x])) for x in xs]


def _grid(n: int, title: str) -> tuple[Figure, list]:
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(4.2 * cols, 3.2 * rows))
    fig.suptitle(title, fontsize=10)
    return fig, [fig.add_subplot(rows, cols, i + 1) for i in range(n)]


def training_curves(records: list[RunRecord], path: str) -> str:
    """``records`` of one dataset."""
    by_target = defaultdict(lambda: defaultdict(list))  # target -> column -> [run results]
    for r in records:
        for t in r.results["target_domains"]:
            by_target[t][r.column].append(r.results)
    fig, axes = _grid(len(by_target), f"{records[0].dataset}: accuracy at each evaluation "
                                      "(solid: target, dashed: source val; mean over seeds)")
    for ax, target in zip(axes, sorted(by_target)):
        for i, (col, runs) in enumerate(sorted(by_target[target].items())):
            color = f"C{i % 10}"
            tgt = [{e["epoch"]: e["target"][target]["accuracy"] for e in evaluations(res)} for res in runs]
            val = [{e["epoch"]: mean_accuracy(e["source_val"]) for e in evaluations(res) if e["source_val"]}
                   for res in runs]
            ax.plot(*_mean_curve(tgt), "-o", color=color, markersize=3, label=col)
            if any(val):
                ax.plot(*_mean_curve(val), "--x", color=color, markersize=4)
        ax.set_title(f"target: {target}", fontsize=9)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy (%)")
        ax.legend(fontsize=7)
    return _save(fig, path)


def read_scalar(run_dir: str, tag: str = "train/loss") -> dict[int, float]:
    """``{step: value}`` of one TensorBoard scalar of a run (empty when it has none)."""
    tb_dir = os.path.join(run_dir, "tensorboard")
    if not os.path.isdir(tb_dir):
        return {}
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    values = {}
    for name in sorted(os.listdir(tb_dir)):  # a resumed run has one events file per process
        acc = EventAccumulator(os.path.join(tb_dir, name), size_guidance={"scalars": 0})
        acc.Reload()
        if tag in acc.Tags().get("scalars", []):
            values.update({e.step: e.value for e in acc.Scalars(tag)})
    return values


def loss_curves(records: list[RunRecord], path: str) -> str | None:
    by_target = defaultdict(lambda: defaultdict(list))
    for r in records:
        curve = read_scalar(os.path.dirname(r.path))
        if curve:
            for t in r.results["target_domains"]:
                by_target[t][r.column].append(curve)
    if not by_target:
        logger.info("No TensorBoard train/loss found for %s: no loss curves", records[0].dataset)
        return None
    fig, axes = _grid(len(by_target), f"{records[0].dataset}: training loss (mean over seeds)")
    for ax, target in zip(axes, sorted(by_target)):
        for i, (col, curves) in enumerate(sorted(by_target[target].items())):
            ax.plot(*_mean_curve(curves), color=f"C{i % 10}", linewidth=1, label=col)
        ax.set_title(f"target: {target}", fontsize=9)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.legend(fontsize=7)
    return _save(fig, path)
