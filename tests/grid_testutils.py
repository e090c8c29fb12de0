"""Parameter grids whose first point runs in the fast loop (``pytest -m "not slow"``) and the rest only in
the full suite (CI): each case of a grid costs a few seconds of training steps, and one case catches most
breaks of the invariant while the whole grid, in CI, pins every combination."""
import pytest


def first_fast(values) -> list:
    """``values`` (tuples for several arguments) as ``pytest.param``s, every one but the first marked slow."""
    return [pytest.param(*(v if isinstance(v, tuple) else (v,)), marks=() if i == 0 else pytest.mark.slow)
            for i, v in enumerate(values)]
