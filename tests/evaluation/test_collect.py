"""tools/collect.py on hand-made results.json files: numbers, selection rules, marks, formats, plots.

The tree (digits_dg, targets mono and texture, 3 seeds expected):

- ``erm``: mono has three evaluations per run, designed so that each rule picks differently
  (training-domain validation picks a non-final one, for seed 3 even the first); texture one
  evaluation per run, and seed 3's results.json predates ``history``.
- ``advstyle_slim``: texture has only seeds 1 and 2 (incomplete: marked, never bold, no Avg).
- ``advstyle_slim/SLIM.LOSS=reverse``: a grid point, complete.

Standard deviations are sample standard deviations (ddof=1).
"""
import csv
import io
import json
import math
import os
import re

import pytest

from slim_dg.evaluation.collect import collect, main
from slim_dg.evaluation.lodo import build_tables, load_records
from slim_dg.evaluation.selection import get_selection
from slim_dg.evaluation.tables import to_csv, to_latex, to_markdown

SOURCES = ["inverse", "color"]


def _entry(epoch, target, acc, val):
    return {"epoch": epoch, "target": {target: {"accuracy": acc, "num_samples": 100}},
            "source_val": {d: {"accuracy": v, "num_samples": 10} for d, v in zip(SOURCES, val)}}


def _write(root, column, target, seed, evals, history=True):
    """evals: [(target accuracy, (source-val accuracy per source domain)), ...], oldest first."""
    hist = [_entry(i + 1, target, acc, val) for i, (acc, val) in enumerate(evals)]
    res = {"dataset": "digits_dg", "trainer": "ERM", "backbone": "resnet18", "seed": seed,
           "source_domains": SOURCES, "target_domains": [target], **{k: hist[-1][k] for k in ("target", "source_val")},
           "epoch": len(evals)}
    if history:
        res["history"] = hist
    d = os.path.join(root, "digits_dg", column, target, f"seed{seed}")
    os.makedirs(d)
    json.dump(res, open(os.path.join(d, "results.json"), "w"))
    return d


@pytest.fixture
def tree(tmp_path):
    root = str(tmp_path / "sweep")
    # erm / mono:                      last  source_val           oracle
    _write(root, "erm", "mono", 1, [(55, (50, 50)), (62, (60, 80)), (60, (65, 65))])  # 60  62 (e2: mean 70)  62
    _write(root, "erm", "mono", 2, [(64, (50, 50)), (66, (80, 80)), (62, (60, 60))])  # 62  66 (e2)           66
    _write(root, "erm", "mono", 3, [(58, (100, 80)), (70, (60, 80)), (64, (70, 90))])  # 64  58 (e1)           70
    for seed, acc in ((1, 40), (2, 42)):
        _write(root, "erm", "texture", seed, [(acc, (90, 90))])
    _write(root, "erm", "texture", 3, [(44, (90, 90))], history=False)
    for seed in (1, 2, 3):
        _write(root, "advstyle_slim", "mono", seed, [(70, (90, 90))])
        _write(root, "advstyle_slim/SLIM.LOSS=reverse", "mono", seed, [(30, (90, 90))])
        _write(root, "advstyle_slim/SLIM.LOSS=reverse", "texture", seed, [(20, (90, 90))])
    for seed in (1, 2):
        _write(root, "advstyle_slim", "texture", seed, [(50 + seed, (90, 90))])
    # an --eval-only result inside a run is not a run of the sweep
    ev = os.path.join(root, "digits_dg", "erm", "mono", "seed1", "eval")
    os.makedirs(ev)
    json.dump({"broken": True}, open(os.path.join(ev, "results.json"), "w"))
    return root


def _table(root, rule, seeds=None):
    (table,) = build_tables(load_records(root), get_selection(rule), seeds)
    return table


def _csv(table):
    return {(r["target"], r["method"]): r for r in csv.DictReader(io.StringIO(to_csv(table)))}


@pytest.mark.parametrize("rule,mean,std,epochs", [
    ("last", 62.0, 2.0, "3 3 3"),
    ("source_val", 62.0, 4.0, "2 2 1"),  # seed 3: the first evaluation; seed 1: mean over sources, not the first
    ("oracle", 66.0, 4.0, "2 2 2"),
])
def test_each_rule_picks_its_evaluation(tree, rule, mean, std, epochs):
    rows = _csv(_table(tree, rule))
    erm = rows[("mono", "erm")]
    assert float(erm["mean"]) == pytest.approx(mean) and float(erm["std"]) == pytest.approx(std)
    assert erm["n"] == "3" and erm["seeds"] == "1 2 3" and erm["epochs"] == epochs


def test_means_sample_stds_and_the_avg_row(tree):
    table = _table(tree, "source_val")
    assert table.targets == ["mono", "texture"] and table.expected == 3
    assert table.columns == ["advstyle_slim", "advstyle_slim/SLIM.LOSS=reverse", "erm"]
    rows = _csv(table)
    texture = rows[("texture", "erm")]
    assert float(texture["mean"]) == pytest.approx(42.0) and float(texture["std"]) == pytest.approx(2.0)
    # Avg over seeds of each seed's mean over targets: (62+40)/2, (66+42)/2, (58+44)/2 = 51, 54, 51
    avg = rows[("Avg", "erm")]
    assert float(avg["mean"]) == pytest.approx(52.0) and float(avg["std"]) == pytest.approx(math.sqrt(3))
    assert float(rows[("Avg", "advstyle_slim/SLIM.LOSS=reverse")]["mean"]) == pytest.approx(25.0)
    assert rows[("Avg", "advstyle_slim/SLIM.LOSS=reverse")]["std"] == "0.0"
    assert rows[("texture", "advstyle_slim")]["n"] == "2"  # 51.5 over 2 seeds: never presented as complete
    assert rows[("Avg", "advstyle_slim")]["mean"] == "" and table.avg["advstyle_slim"] is None


def test_markdown_golden(tree):
    assert to_markdown(_table(tree, "source_val")) == (
        "**digits_dg: accuracy (%) on each held-out target domain (leave-one-domain-out), mean ± sample std "
        "(ddof=1) over 3 seed(s); model selection: training-domain validation**\n"
        "\n"
        "| Target | advstyle_slim | advstyle_slim/SLIM.LOSS=reverse | erm |\n"
        "|---|---|---|---|\n"
        "| mono | **70.0 ± 0.0** (n=3) | 30.0 ± 0.0 (n=3) | 62.0 ± 4.0 (n=3) |\n"
        "| texture | 51.5 ± 0.7 (n=2/3) | 20.0 ± 0.0 (n=3) | **42.0 ± 2.0** (n=3) |\n"
        "| Avg | incomplete | 25.0 ± 0.0 (n=3) | **52.0 ± 1.7** (n=3) |\n"
        "\n"
        "Avg incomplete: some target has not got the same 3 seed(s) as the others.\n")


def test_expected_seed_count_can_be_given(tree):
    md = to_markdown(_table(tree, "last", seeds=2))
    assert "| texture | **51.5 ± 0.7** (n=2) |" in md and "62.0 ± 2.0 (n=3/2)" in md
    assert "| Avg | incomplete | incomplete | incomplete |" in md  # same seeds everywhere, but not the expected count


def test_oracle_is_labelled_and_latex_has_one_shape(tree):
    table = _table(tree, "oracle")
    assert "oracle (test-domain)" in to_markdown(table)
    tex = to_latex(table)
    assert "oracle (test-domain)" in tex
    body = tex[tex.index("\\begin{tabular}"):tex.index("\\end{tabular}")]
    rows = [line for line in body.splitlines() if line.endswith("\\\\")]
    assert len(rows) == 4  # header, 2 targets, Avg
    assert {len(re.findall(r"(?<!\\)&", line)) for line in rows} == {3}
    assert "advstyle\\_slim/SLIM.LOSS=reverse" in rows[0]
    assert rows[1].count("\\textbf") == 1 and "\\textbf{70.0 $\\pm$ 0.0}" in rows[1]
    assert "$^\\dagger$" in rows[2] and rows[3].startswith("Avg & --")


def test_collect_writes_every_format_and_plots(tree, tmp_path, capsys):
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(os.path.join(tree, "digits_dg", "erm", "mono", "seed1", "tensorboard"))
    for step, loss in enumerate([2.0, 1.5, 1.0]):
        w.add_scalar("train/loss", loss, step)
    w.close()
    out = str(tmp_path / "tables")
    assert main([tree, "--selection", "source_val,oracle", "--format", "md,csv,latex", "--plot",
                 "--output-dir", out]) == 0
    assert "**62.0 ± 4.0** (n=3)" not in capsys.readouterr().out  # 70.0 is the best of the mono row
    names = sorted(os.listdir(out))
    for rule in ("source_val", "oracle"):
        expected = {f"digits_dg_{rule}.{ext}" for ext in ("md", "csv", "tex")} | {f"digits_dg_{rule}_bars.png"}
        assert expected <= set(names)
        assert list(csv.DictReader(open(os.path.join(out, f"digits_dg_{rule}.csv"))))
    for png in ("digits_dg_source_val_bars.png", "digits_dg_curves.png", "digits_dg_loss.png"):
        data = open(os.path.join(out, png), "rb").read()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5000, png


def test_bad_trees_fail_with_a_message(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2 and "No results.json" in capsys.readouterr().err
    root = str(tmp_path / "dup")
    _write(root, "erm", "mono", 1, [(50, (50, 50))])
    d = _write(root, "erm", "mono_texture", 1, [(50, (50, 50))])  # a second run of mono, seed 1
    res = json.load(open(os.path.join(d, "results.json")))
    metrics = res["target"]["mono_texture"]
    res["target_domains"], res["target"] = ["mono", "texture"], {"mono": metrics, "texture": metrics}
    res.pop("history")
    json.dump(res, open(os.path.join(d, "results.json"), "w"))
    with pytest.raises(ValueError, match="Two runs for digits_dg erm target mono seed 1"):
        collect(root, ["last"], ["md"], str(tmp_path / "out"))


# -- provenance: one cell, one commit and one set of weights ------------------------------------------
def _stamp(run_dir, commit="a" * 40, weights="resnet18.tv_in1k"):
    path = os.path.join(run_dir, "results.json")
    res = json.load(open(path))
    res["provenance"] = {"version": "0.1.0", "git": {"commit": commit, "dirty": False}, "command": "python x",
                         "versions": {}, "device": {}, "amp_dtype": None, "weights": weights, "data": {}}
    json.dump(res, open(path, "w"))


def _seeds(root, column, **per_seed):
    """Runs of column/mono for seeds 1..3; per_seed: provenance keyword -> one value per seed (None: unstamped)."""
    for i, seed in enumerate((1, 2, 3)):
        d = _write(root, column, "mono", seed, [(60 + seed, (70, 70))])
        kw = {k: v[i] for k, v in per_seed.items()}
        if None not in kw.values():
            _stamp(d, **kw)


def test_collect_refuses_a_cell_with_mixed_weights_and_accepts_it_with_the_flag(tmp_path, capsys):
    root = str(tmp_path / "sweep")
    _seeds(root, "erm", weights=["resnet18.tv_in1k", "resnet18.tv_in1k", "resnet18.a1_in1k"])
    assert main([root, "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "digits_dg erm, target mono: weights: resnet18.tv_in1k (seeds 1, 2), resnet18.a1_in1k (seed 3)" in err
    assert "--allow-mixed" in err and "git commit" not in err  # only what differs is named
    assert not os.path.exists(tmp_path / "out")
    assert main([root, "--allow-mixed", "--output-dir", str(tmp_path / "out")]) == 0
    out = capsys.readouterr()
    assert "| mono | **62.0 ± 1.0** (n=3) |" in out.out
    assert "Cells mix runs made differently (--allow-mixed)" in out.out + out.err  # said, not silent


def test_collect_refuses_mixed_commits_and_unrecorded_runs(tmp_path):
    root = str(tmp_path / "sweep")
    _seeds(root, "erm", commit=["1" * 40, "2" * 40, "1" * 40])
    with pytest.raises(ValueError, match=f"git commit: {'1' * 40} \\(seeds 1, 3\\), {'2' * 40} \\(seed 2\\)"):
        build_tables(load_records(root), get_selection("last"))
    other = str(tmp_path / "old")
    _seeds(other, "erm", commit=["1" * 40, "1" * 40, None])  # seed 3 predates provenance
    with pytest.raises(ValueError, match=r"\(not recorded\) \(seed 3\)"):
        build_tables(load_records(other), get_selection("last"))


def test_different_weights_in_different_columns_are_fine(tmp_path):
    root = str(tmp_path / "sweep")
    _seeds(root, "erm", weights=["resnet18.tv_in1k"] * 3)
    _seeds(root, "erm/MODEL.BACKBONE.NAME=resnet18.a1_in1k", weights=["resnet18.a1_in1k"] * 3)
    (table,) = build_tables(load_records(root), get_selection("last"))
    assert table.columns == ["erm", "erm/MODEL.BACKBONE.NAME=resnet18.a1_in1k"]


def test_targets_of_one_column_made_differently_would_mix_in_its_avg(tmp_path):
    root = str(tmp_path / "sweep")
    _seeds(root, "erm", commit=["1" * 40] * 3)
    for seed in (1, 2, 3):  # texture: every seed at another commit; each cell alone is uniform
        _stamp(_write(root, "erm", "texture", seed, [(40, (70, 70))]), commit="2" * 40)
    with pytest.raises(ValueError, match=f"digits_dg erm, Avg: git commit: {'1' * 40} \\(target mono\\), "
                                         f"{'2' * 40} \\(target texture\\)"):
        build_tables(load_records(root), get_selection("last"))
