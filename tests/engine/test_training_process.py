"""``tune_training_process``: the settings ``tools/train.py`` applies to its process."""
import ast
import os
import subprocess
import sys

import pytest

_PROBE = """
import gc, resource, sys, torch
if sys.argv[1] == "tuned":
    from slim_dg.engine.process import tune_training_process
    tune_training_process()
    assert gc.get_freeze_count() > 10000, gc.get_freeze_count()  # the imported modules' objects
torch.ones(16 * 2 ** 20)  # 64 MB, touched, then freed
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    torch.ones(16 * 2 ** 20)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _page_faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator settings")
def test_freed_buffers_are_reused_instead_of_mapped_again():
    # 5 x 64 MB of fresh pages is 80k page faults when each buffer is mapped anew (glibc's default
    # for buffers this large); with the heap kept, at most one buffer's worth (16k) is ever new
    assert _page_faults("default") > 60000
    assert _page_faults("tuned") < 20000


def test_train_script_tunes_its_process():
    src = open(os.path.join(os.path.dirname(__file__), "..", "..", "tools", "train.py")).read()
    calls = [n.func.id for n in ast.walk(ast.parse(src)) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    assert calls[:2] == ["tune_training_process", "main"]
