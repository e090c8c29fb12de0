"""A dataset missing from DATASET.ROOT is downloaded when a run first needs it (against a local
127.0.0.1 server); ``DATASET.DOWNLOAD False`` and an unreachable host stop with one clear message."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from dg_fakes import LocalServer, build_pacs, closed_port_url, sha256, zip_dir

from slim_dg.data.datasets.pacs import PACS
from slim_dg.data.download.sources import Source
from slim_dg.engine.launch import main

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# PACS read by the digits_dg schedule on 32x32 inputs: a tiny, quick run
TINY = ["--config-file", os.path.join(REPO, "configs", "digits_dg_erm.yaml"), "--target-domains", "sketch",
        "DATASET.NAME", "pacs", "OPTIM.MAX_EPOCH", "1", "TRAIN.MAX_ITERS_PER_EPOCH", "1", "TRAIN.EVAL_FREQ", "0",
        "DATALOADER.TRAIN_X.BATCH_SIZE", "8", "MODEL.BACKBONE.NAME", "resnet10t"]


@pytest.fixture()
def pacs_zip(tmp_path) -> bytes:
    build_pacs(str(tmp_path / "src"))
    return zip_dir(str(tmp_path / "src"), str(tmp_path / "pacs.zip"))


def _serve(monkeypatch, url: str, data: bytes | None = None) -> None:
    sha = sha256(data) if data is not None else None
    monkeypatch.setattr(PACS, "sources", (Source("pacs.zip", (url,), (("pacs", "pacs"),), sha256=sha),))


def test_missing_dataset_is_downloaded_on_first_use(tmp_path, pacs_zip, monkeypatch):
    root, out = tmp_path / "root", tmp_path / "out"
    with LocalServer() as srv:
        srv.files["/pacs.zip"] = pacs_zip
        _serve(monkeypatch, srv.url("/pacs.zip"), pacs_zip)
        main([*TINY, "--root", str(root), "--output-dir", str(out)])
        assert [p for p, _ in srv.requests] == ["/pacs.zip"]
        main([*TINY, "--root", str(root), "--output-dir", str(tmp_path / "again")])
        assert len(srv.requests) == 1  # on disk now: not fetched again
    res = json.load(open(out / "results.json"))
    assert res["dataset"] == "pacs" and res["target"]["sketch"]["num_samples"] == 9
    assert sorted(os.listdir(root)) == [".downloads", "pacs"] and os.listdir(root / ".downloads") == []


def test_download_false_stops_with_the_command(tmp_path, pacs_zip, monkeypatch, capsys):
    root, out = tmp_path / "root", tmp_path / "out"
    with LocalServer() as srv:
        srv.files["/pacs.zip"] = pacs_zip
        _serve(monkeypatch, srv.url("/pacs.zip"), pacs_zip)
        with pytest.raises(SystemExit) as e:
            main([*TINY, "--root", str(root), "--output-dir", str(out), "DATASET.DOWNLOAD", "False"])
        assert srv.requests == []
    assert e.value.code == 2
    assert f"python tools/download.py --dataset pacs --root {root}" in capsys.readouterr().err
    assert not out.exists() and not root.exists()


def test_unreachable_host_stops_within_seconds_with_the_manual_steps(tmp_path, monkeypatch, capsys):
    root, out = tmp_path / "root", tmp_path / "out"
    url = closed_port_url("/pacs.zip")
    _serve(monkeypatch, url)
    tic = time.perf_counter()
    with pytest.raises(SystemExit) as e:
        main([*TINY, "--root", str(root), "--output-dir", str(out)])
    assert e.value.code == 2 and time.perf_counter() - tic < 20
    err = capsys.readouterr().err
    assert "could be reached (is this machine offline?)" in err and url in err
    assert "To install it by hand" in err and f"python tools/download.py --dataset pacs --root {root}" in err
    assert "Traceback" not in err
    # nothing half-made: no dataset folder, no scratch folder, no archive, no run dir
    assert not out.exists() and sorted(os.listdir(root)) == [".downloads"]
    assert os.listdir(root / ".downloads") == []


@pytest.mark.slow
def test_under_torchrun_only_local_rank_0_downloads(tmp_path, pacs_zip):
    # the plugin points PACS at the local server in each process
    plugin = tmp_path / "local_pacs.py"
    plugin.write_text("import os\nfrom slim_dg.data.datasets.pacs import PACS\n"
                      "from slim_dg.data.download.sources import Source\n"
                      "PACS.sources = (Source('pacs.zip', (os.environ['PACS_URL'],), (('pacs', 'pacs'),)),)\n")
    root, out = tmp_path / "root", tmp_path / "out"
    with LocalServer() as srv:
        srv.files["/pacs.zip"] = pacs_zip
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               os.path.join(REPO, "tools", "train.py"), *TINY, "--plugin", str(plugin), "--root", str(root),
               "--output-dir", str(out)]
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600,
                              env=dict(os.environ, OMP_NUM_THREADS="1", PACS_URL=srv.url("/pacs.zip")))
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
        assert [p for p, _ in srv.requests] == ["/pacs.zip"]  # once, by local rank 0
    assert json.load(open(out / "results.json"))["target"]["sketch"]["num_samples"] == 9
