#!/usr/bin/env python
"""Robustness of best and last checkpoints: python tools/robustness.py --model-dir DIR [DIR ...]"""
import sys

from slim_dg.analysis.robustness_cli import main

if __name__ == "__main__":
    sys.exit(main())
