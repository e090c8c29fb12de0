"""Logging to the console and to ``<output_dir>/log.txt`` through the ``slim_dg`` logger."""
from __future__ import annotations

import logging
import os
import sys

_FORMAT = "[%(asctime)s %(name)s] %(message)s"


def setup_logging(output_dir: str | None = None, level: int = logging.INFO) -> logging.Logger:
    logger = logging.getLogger("slim_dg")
    logger.setLevel(level)
    logger.propagate = False
    for h in list(logger.handlers):  # a second run in the same process must not log twice
        logger.removeHandler(h)
        h.close()
    console = logging.StreamHandler(sys.stdout)
    console.setFormatter(logging.Formatter(_FORMAT, "%H:%M:%S"))
    logger.addHandler(console)
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
        fh = logging.FileHandler(os.path.join(output_dir, "log.txt"))
        fh.setFormatter(logging.Formatter(_FORMAT, "%Y-%m-%d %H:%M:%S"))
        logger.addHandler(fh)
    return logger
