"""The analysis figures, drawn with matplotlib's Agg canvas (no display needed)."""
from __future__ import annotations

import os

import numpy as np
from matplotlib.figure import Figure

from ..data.splits import is_val_split


def _save(fig: Figure, path: str) -> str:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return path


def perturbation_plot(curves: dict[str, dict[str, dict]], path: str) -> str:
    """``curves``: line label -> tap name -> {"relative_change", "cosine", ...std, "num_samples"};
    the bands are ± one standard error of the batch mean."""
    fig = Figure(figsize=(10, 3.8))
    axes = fig.subplots(1, 2)
    for label, per_tap in curves.items():
        taps = list(per_tap)
        xs = np.arange(len(taps))
        for ax, key in zip(axes, ("relative_change", "cosine")):
            ys = np.array([per_tap[t][key] for t in taps])
            err = np.array([per_tap[t][key + "_std"] / np.sqrt(per_tap[t]["num_samples"]) for t in taps])
            line, = ax.plot(xs, ys, marker="o", label=label)
            ax.fill_between(xs, ys - err, ys + err, color=line.get_color(), alpha=0.12)
            ax.set_xticks(xs, taps, rotation=30)
    axes[0].set(title="Feature change ‖h̃−h‖/‖h‖ (higher: more perturbed)", xlabel="tap (shallow → deep)")
    axes[1].set(title="cos(h̃, h) (lower: more perturbed)", xlabel="tap (shallow → deep)")
    axes[0].legend(fontsize=8)
    return _save(fig, path)


def gradient_plot(per_model: dict[str, dict], path: str) -> str:
    """Histogram of per-sample mean pairwise gradient cosine, plain vs SLIM, per model."""
    fig = Figure(figsize=(5 * len(per_model), 3.6))
    axes = np.atleast_1d(fig.subplots(1, len(per_model)))
    for ax, (label, r) in zip(axes, per_model.items()):
        bins = np.linspace(-1, 1, 41)
        ax.hist(r["plain_per_sample"], bins=bins, alpha=0.6, label=f"plain (mean {r['plain_pairwise_cosine']:.3f})")
        ax.hist(r["slim_per_sample"], bins=bins, alpha=0.6, label=f"SLIM (mean {r['slim_pairwise_cosine']:.3f})")
        ax.set(title=label, xlabel=f"mean pairwise cosine of {r['draws']} ascent directions", ylabel="samples")
        ax.legend(fontsize=8)
    return _save(fig, path)


def grouped_bars(values: dict[str, dict[str, float]], errors: dict[str, dict[str, float]] | None, path: str,
                 ylabel: str, title: str) -> str:
    """``values``: series label -> category -> value; one group of bars per category."""
    series = list(values)
    cats = list(dict.fromkeys(c for s in series for c in values[s]))
    width = 0.8 / max(1, len(series))
    fig = Figure(figsize=(1.5 + 1.1 * len(cats) * max(1, len(series)) ** 0.5, 3.8))
    ax = fig.add_subplot()
    xs = np.arange(len(cats))
    for i, s in enumerate(series):
        ys = [values[s].get(c, np.nan) for c in cats]
        err = [errors[s].get(c, 0.0) for c in cats] if errors else None
        ax.bar(xs + (i - (len(series) - 1) / 2) * width, ys, width, yerr=err, capsize=2, label=s)
    ax.set_xticks(xs, cats, rotation=20)
    ax.set(ylabel=ylabel, title=title)
    ax.legend(fontsize=8)
    return _save(fig, path)


def noise_plot(curves: dict[str, list[dict]], path: str) -> str:
    """Mean accuracy over the target domains vs σ, one line per model, and one panel per domain."""
    domains = list(next(iter(curves.values()))[0]["domains"])
    fig = Figure(figsize=(4 * (len(domains) + 1), 3.6))
    axes = fig.subplots(1, len(domains) + 1)
    for label, curve in curves.items():
        sigmas = [c["sigma"] for c in curve]
        targets = [d for d in domains if not is_val_split(d)] or domains
        avg = [np.mean([c["domains"][d]["accuracy"] for d in targets]) for c in curve]
        axes[0].plot(sigmas, avg, marker="o", label=label)
        for ax, d in zip(axes[1:], domains):
            ys = np.array([c["domains"][d]["accuracy"] for c in curve])
            err = np.array([c["domains"][d]["std"] for c in curve])
            ax.errorbar(sigmas, ys, yerr=err, marker="o", capsize=2, label=label)
            ax.set(title=d, xlabel="relative noise σ")
    axes[0].set(title="mean over target domains", xlabel="relative noise σ", ylabel="accuracy (%)")
    axes[0].legend(fontsize=8)
    return _save(fig, path)
