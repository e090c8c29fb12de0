"""Fetching datasets: sources (``sources``), resumable checked HTTP (``transfer``), safe extraction
(``extract``), placing files under ``DATASET.ROOT`` (``install``), image-count checks (``verify``)
and the ``tools/download.py`` command line (``cli``).

Kept import-free so that dataset modules can import ``download.sources`` without a cycle.
"""
