"""How evaluation outputs name their splits: a target domain by its name, a source domain's held-out
validation split by ``"<domain> (val)"``. The one place that knows the suffix: code that labels or
recognises a validation split asks here instead of matching strings."""
from __future__ import annotations

VAL_SUFFIX = " (val)"


def val_split_name(domain: str) -> str:
    """The label of ``domain``'s validation split, e.g. ``"mnist (val)"``."""
    return domain + VAL_SUFFIX


def is_val_split(name: str) -> bool:
    """Whether ``name`` labels a source domain's validation split (``val_split_name``)."""
    return name.endswith(VAL_SUFFIX)
