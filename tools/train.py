#!/usr/bin/env python
"""Train a DG model: python tools/train.py --config-file configs/digits_dg_erm.yaml --target-domains texture"""
from slim_dg.engine.launch import main

if __name__ == "__main__":
    main()
