"""Pretrained weights with the model hub out of reach: stopped within 20 s, one line naming both ways
on, no output dir. The hub is simulated by a refused port on 127.0.0.1 (the network is never used)."""
from __future__ import annotations

import os
import socket
import time

import pytest
from huggingface_hub import constants

from slim_dg.engine.launch import main
from slim_dg.modeling.backbone import WeightsUnavailableError, create_timm_backbone
from slim_dg.modeling.hub import hub_reachable

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _closed_port() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


@pytest.fixture()
def unreachable_hub(tmp_path, monkeypatch):
    """The hub's endpoint refuses connections and the local cache is empty."""
    monkeypatch.setattr(constants, "ENDPOINT", _closed_port())
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))


def test_probe_tells_a_refused_endpoint_from_a_listening_one(monkeypatch):
    monkeypatch.setattr(constants, "ENDPOINT", _closed_port())
    assert not hub_reachable(timeout=5)
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{listening.getsockname()[1]}")
        assert hub_reachable(timeout=5)


def test_backbone_fails_fast_with_both_ways_on(unreachable_hub):
    tic = time.perf_counter()
    with pytest.raises(WeightsUnavailableError) as e:
        create_timm_backbone("resnet10t", pretrained=True)
    assert time.perf_counter() - tic < 20
    msg = str(e.value)
    assert "cannot be reached" in msg and "\n" not in msg
    assert "MODEL.BACKBONE.PRETRAINED False" in msg and "MODEL.BACKBONE.WEIGHTS FILE" in msg


def test_train_stops_in_one_line_and_leaves_no_output_dir(unreachable_hub, tmp_path, digits_root, capsys):
    out = tmp_path / "out"
    tic = time.perf_counter()
    with pytest.raises(SystemExit) as e:
        main(["--config-file", os.path.join(REPO, "configs", "digits_dg_erm.yaml"), "--root", digits_root,
              "--target-domains", "texture", "--output-dir", str(out), "MODEL.BACKBONE.NAME", "resnet10t",
              "MODEL.BACKBONE.PRETRAINED", "True"])
    assert e.value.code == 2 and time.perf_counter() - tic < 20
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: Could not load pretrained weights for 'resnet10t'")
    assert "MODEL.BACKBONE.PRETRAINED False" in err[0] and "MODEL.BACKBONE.WEIGHTS FILE" in err[0]
    assert not out.exists()
