#!/usr/bin/env python
"""LODO tables from a sweep: python tools/collect.py output/sweeps --selection source_val --format md,csv,latex --plot"""
import sys

from slim_dg.evaluation.collect import main

if __name__ == "__main__":
    sys.exit(main())
