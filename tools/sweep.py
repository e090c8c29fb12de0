#!/usr/bin/env python
"""LODO sweep: python tools/sweep.py --config-file configs/digits_dg_erm.yaml --seeds 1 2 3 --output-dir output/sweeps"""
import sys

from slim_dg.sweep.cli import main

if __name__ == "__main__":
    sys.exit(main())
