"""What a sweep runs: config files x grid points x LODO target domains x seeds.

Every run has its own directory, ``OUT/<dataset>/<method>[/<grid point>]/<target>/seed<k>``:
``<method>`` is the config file's name without the dataset prefix
(``configs/digits_dg_advstyle_slim.yaml`` -> ``advstyle_slim``) and ``<grid point>`` names the
``--grid`` overrides of the run (``SLIM.LOSS=reverse``). The layout is all ``tools/collect.py``
needs to put a run in its table cell; the run's ``results.json`` says the rest.
"""
from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass

from ..config import get_cfg_defaults, merge_from_file, merge_from_list
from ..errors import InputError


@dataclass(frozen=True)
class Run:
    config_file: str  # absolute
    dataset: str
    method: str
    grid_point: str  # "" without --grid
    overrides: tuple[str, ...]  # KEY VALUE ...: the sweep's fixed --opts, then the grid point's
    target: str
    seed: int
    run_dir: str  # absolute
    cwd: str  # where relative paths in the config (DATASET.ROOT) are resolved
    plugins: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return "/".join(p for p in (self.dataset, self.method, self.grid_point, self.target, f"seed{self.seed}") if p)

    @property
    def log_path(self) -> str:
        """Next to the run dir, not in it: ``train.py`` refuses to start in a non-empty directory."""
        return self.run_dir + ".log"

    def plugin_args(self) -> list[str]:
        return [a for p in self.plugins for a in ("--plugin", p)]

    def train_args(self) -> list[str]:
        """``tools/train.py`` arguments of a fresh run (LODO: the sources are all other domains)."""
        return [*self.plugin_args(), "--config-file", self.config_file, "--target-domains", self.target,
                "--seed", str(self.seed), "--output-dir", self.run_dir, *self.overrides]


def split_values(text: str) -> list[str]:
    """``a,b,[1,2],(3, 4)`` -> ``['a', 'b', '[1,2]', '(3, 4)']``: commas inside brackets stay."""
    values, depth, cur = [], 0, ""
    for ch in text:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            values.append(cur.strip())
            cur = ""
        else:
            cur += ch
    values.append(cur.strip())
    return values


def parse_grid(specs: list[str]) -> list[tuple[tuple[str, str], ...]]:
    """``["SLIM.LOSS=cosine,reverse", "OPTIM.LR=0.1,0.01"]`` -> the 4 points of their product,
    each a tuple of ``(key, value)``; no spec gives one empty point."""
    axes, keys = [], set()
    for spec in specs:
        key, sep, values = spec.partition("=")
        key = key.strip()
        vals = split_values(values) if sep else []
        if not key or not sep or not all(vals):
            raise InputError(f"--grid {spec!r}: expected KEY=VALUE[,VALUE...], e.g. SLIM.LOSS=cosine,orthogonal")
        if key in keys:
            raise InputError(f"--grid names {key} twice; give all its values in one KEY=V1,V2")
        keys.add(key)
        axes.append([(key, v) for v in vals])
    return list(itertools.product(*axes))


def grid_point_name(point: tuple[tuple[str, str], ...]) -> str:
    """A directory name: ``SLIM.LOSS=reverse,OPTIM.LR=0.01`` (unsafe characters become ``_``)."""
    return ",".join(f"{k}={re.sub(r'[^A-Za-z0-9._+-]', '_', v)}" for k, v in point)


def method_name(config_file: str, dataset: str) -> str:
    stem = os.path.splitext(os.path.basename(config_file))[0]
    return stem[len(dataset) + 1:] if stem.startswith(dataset + "_") and len(stem) > len(dataset) + 1 else stem


def dataset_of(config_file: str, opts: list[str]) -> tuple[str, tuple[str, ...]]:
    """The dataset name a config (with the sweep's fixed overrides) trains on, and its domains."""
    from ..data import DATASET_REGISTRY

    cfg = get_cfg_defaults()
    merge_from_file(cfg, config_file)
    merge_from_list(cfg, opts)
    return cfg.DATASET.NAME, tuple(DATASET_REGISTRY.get(cfg.DATASET.NAME).domains)


def expand_runs(config_files: list[str], seeds: list[int], output_dir: str, targets: list[str] | None = None,
                grid: list[str] = (), opts: list[str] = (), plugins: list[str] = ()) -> list[Run]:
    """Every run of the sweep, in order: config, grid point, target (the dataset's order), seed.
    Bad input (unknown target, a key both fixed and in the grid, two configs with one method
    name) raises ``ValueError`` before anything runs."""
    if len(opts) % 2:
        raise InputError(f"--opts takes KEY VALUE pairs, got an odd number of words: {' '.join(opts)}")
    fixed_keys = set(opts[::2])
    points = parse_grid(list(grid))
    both = sorted(fixed_keys & {k for k, _ in points[0]})
    if both:
        raise InputError(f"{both} set both by --opts and by --grid; keep one")
    runs, by_dir, seen_targets = [], {}, set()
    cwd = os.getcwd()
    for config_file in config_files:
        config_file = os.path.abspath(config_file)
        dataset, domains = dataset_of(config_file, list(opts))
        if not domains and not targets:
            raise InputError(f"Dataset {dataset} ({config_file}) does not declare its domains: pass --targets")
        chosen = [d for d in domains if not targets or d in targets] if domains else list(targets)
        if not chosen:
            raise InputError(f"--targets {' '.join(targets)} selects no domain of {dataset} ({config_file}); "
                             f"its domains: {', '.join(domains)}")
        seen_targets.update(chosen)
        method = method_name(config_file, dataset)
        for point, target, seed in itertools.product(points, chosen, seeds):
            gp = grid_point_name(point)
            run_dir = os.path.join(os.path.abspath(output_dir), dataset, method, *([gp] if gp else []), target,
                                   f"seed{seed}")
            if run_dir in by_dir:
                if by_dir[run_dir] == config_file:
                    continue  # the same config file or seed given twice
                raise InputError(f"{by_dir[run_dir]} and {config_file} would both write {run_dir}: "
                                 "rename one config file")
            by_dir[run_dir] = config_file
            runs.append(Run(config_file, dataset, method, gp, (*opts, *(x for kv in point for x in kv)), target,
                            seed, run_dir, cwd, tuple(plugins)))
    unknown = sorted(set(targets or ()) - seen_targets)
    if unknown:
        raise InputError(f"--targets {', '.join(unknown)}: not a domain of any swept dataset")
    return runs
