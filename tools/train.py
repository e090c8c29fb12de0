#!/usr/bin/env python
"""Train a DG model: python tools/train.py --config-file configs/digits_dg_erm.yaml --target-domains texture"""
from slim_dg.engine.launch import main
from slim_dg.engine.process import tune_training_process

if __name__ == "__main__":
    tune_training_process()
    main()
