#!/usr/bin/env python
"""Analyses of trained runs: python tools/analyze.py {perturbation,gradients,hessian,param-noise,attack} --model-dir DIR"""
import sys

from slim_dg.analysis.cli import main

if __name__ == "__main__":
    sys.exit(main())
