#!/usr/bin/env python
"""Dassl's training flow (the flags of Dassl's tools/train.py) with SLIM-DG's trainers and timm backbones
registered, e.g.

    python tools/train_dassl.py --root DATA --trainer AdvStyleSLIM \
        --source-domains art_painting cartoon sketch --target-domains photo \
        --dataset-config-file Dassl.pytorch/configs/datasets/dg/pacs.yaml --output-dir output/pacs_photo \
        --seed 1 MODEL.BACKBONE.NAME timm_resnet18

Needs Dassl.pytorch installed (see README, "Using SLIM-DG inside Dassl")."""
import sys

if __name__ == "__main__":
    try:
        from slim_dg.integrations.dassl import main
    except ImportError as e:
        sys.exit(f"error: {e}")
    main()
