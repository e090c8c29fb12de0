"""``DATASET.CLASS_MAP``: a YAML or JSON file that renames class folders per domain.

    photo:            # domain
      hund: dog       # folder name: class name
      katze: cat
    sketch:
      Dog: dog

It is applied before labels are given, so folders of different names become one class; folders it
does not name keep their own name. Every domain and folder it names must exist, so that a typo
fails instead of silently mapping nothing.
"""
from __future__ import annotations

import difflib
import os
from collections import defaultdict

import yaml

KEY = "DATASET.CLASS_MAP"
ClassMap = dict[str, dict[str, str]]


def load_class_map(path: str) -> ClassMap:
    """``{domain: {folder: class}}`` from ``path`` (YAML, or JSON, which YAML reads too); ``{}`` for ``""``."""
    if not path:
        return {}
    if not os.path.isfile(os.path.expanduser(path)):
        raise FileNotFoundError(f"{KEY}: no file {path} (a YAML or JSON file {{domain: {{folder: class}}}})")
    with open(os.path.expanduser(path)) as f:
        try:
            raw = yaml.safe_load(f)
        except yaml.YAMLError as e:
            raise ValueError(f"{KEY}: {path} is not valid YAML/JSON: {e}") from e
    shape = f"{KEY}: {path} must map each domain to {{folder name: class name}}"
    if not isinstance(raw, dict):
        raise ValueError(f"{shape}, got {type(raw).__name__}")
    class_map = {}
    for domain, folders in raw.items():
        if not isinstance(folders, dict) or not all(isinstance(v, (str, int)) for v in folders.values()):
            raise ValueError(f"{shape}; its entry for {domain!r} is {folders!r}")
        # YAML reads a folder "7" as a number: names are strings
        class_map[str(domain)] = {str(k): str(v) for k, v in folders.items()}
    return class_map


def check_map_domains(class_map: ClassMap, domains: tuple[str, ...] | list[str]) -> None:
    unknown = [d for d in class_map if d not in domains]
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(domains), n=1, cutoff=0.5)
        hint = f"; did you mean '{close[0]}'?" if close else "."
        raise ValueError(f"{KEY} names unknown domain(s) {', '.join(unknown)}{hint} Domains: {', '.join(domains)}")


def check_map_folders(folder_map: dict[str, str], folders: list[str], domain_dir: str) -> None:
    absent = [f for f in folder_map if f not in folders]
    if absent:
        close = difflib.get_close_matches(absent[0], folders, n=1, cutoff=0.5)
        hint = f"; did you mean '{close[0]}'?" if close else "."
        raise ValueError(f"{KEY}: {domain_dir} has no class folder(s) {', '.join(repr(a) for a in absent)}{hint} "
                         f"Its class folders: {', '.join(folders)}")


def case_twins(names) -> list[list[str]]:
    """Groups of distinct names that are equal once case and surrounding spaces are ignored."""
    groups = defaultdict(set)
    for n in names:
        groups[n.strip().casefold()].add(n)
    return [sorted(g) for g in groups.values() if len(g) > 1]
