"""One config builder for the tests that train on the generated digits_dg (importable from every test
folder: pytest puts tests/ on sys.path for tests/conftest.py)."""
from __future__ import annotations

import os

from slim_dg.config import get_cfg_defaults, merge_from_file, merge_from_list, validate_cfg

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def digits_cfg(digits_root: str, config_file: str, *opts):
    """``configs/<config_file>`` on ``digits_root`` with texture held out, then ``KEY VALUE`` overrides;
    validated and frozen, as tools/train.py would have it."""
    cfg = get_cfg_defaults()
    merge_from_file(cfg, os.path.join(REPO, "configs", config_file))
    merge_from_list(cfg, ["DATASET.ROOT", digits_root, "DATASET.TARGET_DOMAINS", "['texture']", *opts])
    validate_cfg(cfg)
    cfg.freeze()
    return cfg
