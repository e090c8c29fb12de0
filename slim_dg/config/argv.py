"""``KEY VALUE`` config overrides anywhere on a command line, flags before or after them.

argparse (and Dassl after it) reads trailing ``KEY VALUE`` pairs with ``nargs=REMAINDER``, which
also swallows every flag that follows the first pair: ``OPTIM.MAX_EPOCH 1 --seed 3`` would make
``--seed 3`` two more "overrides". We take the pairs out before argparse sees the line instead: a
word is a config key when its first dotted part is a top-level key of the defaults (``OPTIM``,
``SEED``, ...), and the word after it is its value, whatever it looks like (``-1`` included).
"""
from __future__ import annotations

import argparse
import re
import sys

from .defaults import get_cfg_defaults

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*")


def is_config_key(word: str) -> bool:
    """``OPTIM.LR``, ``SEED``, or a misspelt ``OPTIM.LRR`` (merging then names the closest keys); not
    ``SLIM.LOSS=cosine`` (a ``--grid`` value)."""
    return bool(_KEY.fullmatch(word)) and word.split(".")[0] in get_cfg_defaults()


def split_config_pairs(argv: list[str]) -> tuple[list[str], list[str]]:
    """``(flags, pairs)``: ``argv`` without its ``KEY VALUE`` pairs, and the pairs in their order.
    Everything after a bare ``--`` is left to argparse."""
    flags, pairs = [], []
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            flags += argv[i:]
            break
        if is_config_key(word) and i + 1 < len(argv):
            pairs += argv[i:i + 2]
            i += 2
            continue
        flags.append(word)
        i += 1
    return flags, pairs


def parse_with_config_pairs(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """``parser.parse_args`` of ``argv`` (default: ``sys.argv[1:]``) with its ``KEY VALUE`` pairs
    taken out first and put in front of ``args.opts`` (the parser's own trailing pairs, if any)."""
    flags, pairs = split_config_pairs(sys.argv[1:] if argv is None else list(argv))
    args = parser.parse_args(flags)
    args.opts = pairs + args.opts
    return args
