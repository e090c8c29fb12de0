"""``tools/benchmark.py`` runs every mode of issue 9 and reports the goals' ratios (a tiny setting:
this checks the tool, it measures nothing)."""
from __future__ import annotations

import importlib.util
import json
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _benchmark_module():
    spec = importlib.util.spec_from_file_location("slim_dg_benchmark_tool", os.path.join(REPO, "tools", "benchmark.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_benchmark_reports_every_mode_and_ratio(digits_root, tmp_path, capsys):
    out = tmp_path / "bench.json"
    report = _benchmark_module().main(["--root", digits_root, "--batch-size", "4", "--warmup", "0", "--repeats", "1",
                                       "--methods", "advstyle", "advstyle:SLIM.BALANCE=grad_norm",
                                       "--json", str(out),
                                       "MODEL.BACKBONE.NAME", "resnet10t"])
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    assert report["command"].startswith("python tools/benchmark.py --root ") and "resnet10t" in report["command"]
    modes = set(report["modes"])
    assert {"(a) bare timm", "(b) ERM", "(c) ERM+io", "(d) AdvStyle", "(d) AdvStyleSLIM"} <= modes
    assert all(m["images_per_s"] > 0 for m in report["modes"].values())
    ratios = report["ratios"]
    assert any(k.startswith("(b) ERM / (a) bare timm") for k in ratios)
    assert any(k.startswith("(d) AdvStyleSLIM / (d) AdvStyle") for k in ratios)
    assert "(d) AdvStyleSLIM SLIM.BALANCE=grad_norm / (d) AdvStyleSLIM  [step time]" in ratios
    if report["dassl"] == "measured":  # Dassl installed: its Vanilla on the same data and backbone
        assert {"(e) Dassl Vanilla", "(e) Dassl Vanilla+io"} <= modes
        assert any(k.startswith("(c) ERM+io / (e) Dassl Vanilla+io") for k in ratios)
    table = capsys.readouterr().out
    assert "images/s" in table and "(a) bare timm" in table and "goal >= 0.95" in table


def test_measure_takes_turns_and_drops_each_turns_first_step_in_blocks():
    measure = _benchmark_module().measure
    calls = []
    steps = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}
    times = measure(steps, warmup=1, repeats=2, cuda=False, block=3)
    assert calls == (["a"] * 3 + ["b"] * 3) * 3  # turns of 3 steps, warm-up round included
    assert {k: len(v) for k, v in times.items()} == {"a": 4, "b": 4}  # 2 rounds x 2 timed steps
    calls.clear()
    times = measure(steps, warmup=1, repeats=2, cuda=False)
    assert calls == ["a", "b"] * 3 and {k: len(v) for k, v in times.items()} == {"a": 2, "b": 2}


def test_no_timed_step_is_refused_with_the_flag_named(capsys):
    parse_args = _benchmark_module().parse_args
    for flag in ("--block", "--repeats"):
        with pytest.raises(SystemExit):
            parse_args([flag, "0"])
        assert f"{flag} must be at least 1" in capsys.readouterr().err


def test_methods_are_the_registered_adversaries(capsys):
    bench = _benchmark_module()
    assert bench.adversary_trainer("pgd", True) == "PGDSLIM" and bench.adversary_trainer("advstyle", False) == "AdvStyle"
    assert bench.adversary_trainer("no_named_trainer", True) == "Adversarial"
    with pytest.raises(SystemExit):
        bench.main(["--methods", "advstyle_slim"])
    assert "Unknown adversary 'advstyle_slim' (ADV.NAME); did you mean 'advstyle'?" in capsys.readouterr().err
