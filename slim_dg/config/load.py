"""Reading config files (with ``_BASE_`` inheritance) and ``KEY VALUE`` overrides into the defaults.

yacs does the merging; before each merge we check every key and type ourselves, because yacs'
own errors ("Non-existent config key", "Type mismatch (<class 'float'> vs. <class 'int'>)")
neither suggest the key that was meant nor accept ``OPTIM.LR 1`` for a float.
"""
from __future__ import annotations

import difflib
import os
from typing import Any, Iterable

import yaml
from yacs.config import CfgNode as CN

from ..errors import InputError
from .hashing import flatten

BASE_KEY = "_BASE_"
BOOL_OR_AUTO = {"DATALOADER.CACHE"}  # keys that take True, False or "auto"

# Keys that no longer exist: key -> (the default every run's saved config.yaml holds, why it went).
# A file or command line setting one is refused with the reason; the old default is passed over
# quietly, so the runs written before the removal still resume and evaluate.
REMOVED_KEYS = {
    "TEST.EVALUATOR": ("Classification", "nothing read it: every run is evaluated by classification accuracy"),
    "TEST.FINAL_MODEL": ("last_step", "nothing read it: results.json reports the last model, and model-best.pt / "
                                      "model-best-pgd.pt are kept beside it"),
}


class ConfigError(InputError):  # InputError is a ValueError
    """A config file, key or value that cannot be used; the message says what to change."""


def load_yaml_with_base(path: str, _seen: tuple[str, ...] = ()) -> dict:
    """Load a YAML file, first merging the file(s) named by its ``_BASE_`` (relative to it)."""
    path = os.path.abspath(path)
    if path in _seen:
        raise ConfigError(f"_BASE_ cycle: {' -> '.join(_seen + (path,))}")
    if not os.path.isfile(path):
        raise ConfigError(f"Config file not found: {path}")
    with open(path) as f:
        try:
            data = yaml.safe_load(f) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path} is not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of config keys, got {type(data).__name__}")
    bases = data.pop(BASE_KEY, None) or []
    if isinstance(bases, str):
        bases = [bases]
    merged: dict = {}
    for base in bases:
        base_path = base if os.path.isabs(base) else os.path.join(os.path.dirname(path), base)
        _merge_dicts(merged, load_yaml_with_base(base_path, _seen + (path,)), base_path)
    _merge_dicts(merged, data, path)
    return merged


def _merge_dicts(dst: dict, src: dict, origin: str, prefix: str = "") -> None:
    for k, v in src.items():
        if isinstance(v, dict):
            if k in dst and not isinstance(dst[k], dict):
                raise ConfigError(f"{origin}: cannot merge a mapping onto the value of {prefix}{k}")
            _merge_dicts(dst.setdefault(k, {}), v, origin, f"{prefix}{k}.")
        else:
            dst[k] = v


def _type_name(v: Any) -> str:
    return {bool: "bool", int: "int", float: "float", str: "str", list: "list", tuple: "list"}.get(type(v), type(v).__name__)


def _coerce(key: str, default: Any, value: Any, origin: str) -> Any:
    """The value in the default's type, or a ConfigError naming the key and the expected type."""
    if key in BOOL_OR_AUTO:
        if isinstance(value, bool) or value == "auto":
            return value
        raise ConfigError(f"{origin}: {key} expects True, False or auto (default: {default!r}), got {value!r}")
    if isinstance(value, str) and not isinstance(default, str):
        value = CN._decode_cfg_value(value)  # yacs' reading of strings: "(32, 32)" is a tuple in Dassl's files
    if isinstance(default, bool) or isinstance(value, bool):
        ok = isinstance(default, bool) and isinstance(value, bool)
    elif isinstance(default, float) and isinstance(value, int):
        return float(value)
    elif isinstance(default, (list, tuple)) and isinstance(value, (list, tuple)):
        return type(default)(value)
    else:
        ok = type(value) is type(default)
    if not ok:
        raise ConfigError(
            f"{origin}: {key} expects {_type_name(default)} (default: {default!r}), "
            f"got {_type_name(value)} {value!r}"
        )
    return value


def merge_checked(cfg: CN, data: dict, origin: str) -> None:
    """Merge a plain nested dict into ``cfg`` after checking every key and value type."""
    valid = list(flatten(cfg))  # every key, dotted

    def walk(node: CN, d: dict, prefix: str) -> None:
        for k, v in d.items():
            full = f"{prefix}{k}"
            if k == BASE_KEY:
                raise ConfigError(f"{origin}: _BASE_ is only allowed at the top of a config file")
            if full in REMOVED_KEYS and k not in node:
                old_default, why = REMOVED_KEYS[full]
                if v == old_default:
                    continue
                raise ConfigError(f"{origin}: config key {full} was removed ({why}); delete it.")
            if k not in node:
                close = difflib.get_close_matches(full, valid, n=3, cutoff=0.6)
                if not close:
                    close = [x for x in valid if x.rsplit(".", 1)[-1] == k][:3]
                hint = f" Did you mean: {', '.join(close)}?" if close else ""
                if full.startswith("ADV."):  # an adversary's own keys exist once its module is imported
                    hint += " An adversary from a plugin declares its keys once loaded (--plugin MODULE)."
                raise ConfigError(f"{origin}: unknown config key {full}.{hint}")
            if isinstance(node[k], CN):
                if not isinstance(v, dict):
                    raise ConfigError(f"{origin}: {full} is a group of keys, not a value ({v!r})")
                walk(node[k], v, full + ".")
            else:
                if isinstance(v, dict):
                    raise ConfigError(f"{origin}: {full} is a value, not a group of keys")
                node[k] = _coerce(full, node[k], v, origin)

    walk(cfg, data, "")


def merge_from_file(cfg: CN, path: str) -> None:
    merge_checked(cfg, load_yaml_with_base(path), path)


def opts_to_dict(opts: Iterable[str]) -> dict:
    """``["OPTIM.LR", "0.1", ...]`` -> nested dict, values decoded like YAML literals."""
    opts = list(opts)
    if len(opts) % 2:
        raise ConfigError(f"Overrides come in KEY VALUE pairs; got an odd number: {opts}")
    out: dict = {}
    for key, raw in zip(opts[0::2], opts[1::2]):
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = CN._decode_cfg_value(raw)
    return out


def merge_from_list(cfg: CN, opts: Iterable[str]) -> None:
    merge_checked(cfg, opts_to_dict(opts), "command line")
