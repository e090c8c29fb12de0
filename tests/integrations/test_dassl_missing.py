"""Without Dassl, importing the integration (and running tools/train_dassl.py) fails with an
ImportError that says how to install Dassl. Absence is simulated with sys.modules["dassl"] = None
in a fresh interpreter, so this runs whether or not Dassl is installed."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMMIT = "c61a1b570ac6333bd50fb5ae06aea59002fb20bb"

SCRIPT = r"""
import runpy, sys
sys.modules["dassl"] = None  # as if Dassl were not installed
try:
    import slim_dg.integrations.dassl
except ImportError as e:
    print("IMPORT-ERROR:", type(e).__name__, e)
else:
    print("IMPORTED")
sys.argv = ["train_dassl.py", "--help"]
try:
    runpy.run_path(sys.argv_path, run_name="__main__")
except SystemExit as e:
    print("TOOL-EXIT:", e.code)
"""


@pytest.mark.slow
def test_import_error_says_how_to_install_dassl():
    script = SCRIPT.replace("sys.argv_path", repr(os.path.join(REPO, "tools", "train_dassl.py")))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "IMPORTED" not in out
    err = out.split("IMPORT-ERROR:", 1)[1].split("TOOL-EXIT:", 1)[0]
    assert err.lstrip().startswith("ImportError")
    assert "Dassl.pytorch" in err and "pip install" in err
    assert f"git+https://github.com/KaiyangZhou/Dassl.pytorch@{COMMIT}" in err  # the pinned commit
    assert "--no-deps --no-build-isolation" in err
    tool = out.split("TOOL-EXIT:", 1)[1]
    assert "error:" in tool and "pip install" in tool  # the tool exits with the same advice, no traceback
