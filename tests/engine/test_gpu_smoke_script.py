"""``tools/gpu_smoke.sh`` on a machine without CUDA: it skips, says why, and exits 0 (on a GPU
machine it is the GPU check itself, minutes long: run it by hand, not from the test suite)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="with CUDA the script runs every GPU check: run it by hand")
def test_gpu_smoke_skips_with_the_reason_without_cuda():
    proc = subprocess.run(["bash", os.path.join(REPO, "tools", "gpu_smoke.sh")], capture_output=True, text=True,
                          env=dict(os.environ, PYTHON=sys.executable), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("SKIP gpu_smoke: no CUDA device here (torch.cuda.is_available() is False)")
