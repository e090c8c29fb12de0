#!/usr/bin/env python
"""Download a dataset: python tools/download.py --dataset pacs --root datasets [--verify]"""
import sys

from slim_dg.data.download.cli import main

if __name__ == "__main__":
    sys.exit(main())
