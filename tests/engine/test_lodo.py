"""No target domain = leave-one-domain-out: one ordinary run per held-out domain, ``lodo.json`` and one
table; a second invocation trains nothing; Ctrl-C during a target, then the same command, finishes
with the results of an uninterrupted run."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from slim_dg.data.datasets.digits_dg import DOMAINS
from slim_dg.engine.checkpoint import list_checkpoints
from slim_dg.engine.launch import main

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# no --target-domains; flags after the KEY VALUE pairs on purpose
TINY = ["--config-file", os.path.join(REPO, "configs", "digits_dg_erm.yaml"), "OPTIM.MAX_EPOCH", "1",
        "TRAIN.MAX_ITERS_PER_EPOCH", "4", "TRAIN.CHECKPOINT_FREQ", "1", "DATALOADER.TRAIN_X.BATCH_SIZE", "8",
        "MODEL.BACKBONE.NAME", "resnet10t", "--seed", "3"]


def _lodo(digits_root, out):
    main([*TINY, "--root", digits_root, "--output-dir", out])
    return json.load(open(os.path.join(out, "lodo.json")))


@pytest.fixture(scope="module")
def reference(tmp_path_factory, digits_root):
    out = str(tmp_path_factory.mktemp("lodo") / "ref")
    return out, _lodo(digits_root, out)


@pytest.mark.slow
def test_no_target_trains_each_domain_held_out(reference, capsys):
    out, summary = reference
    assert sorted(os.listdir(out)) == sorted([*DOMAINS, "lodo.json"])
    for d in DOMAINS:  # each an ordinary run dir
        res = json.load(open(os.path.join(out, d, "results.json")))
        assert res["target_domains"] == [d] and sorted(res["source_domains"]) == sorted(set(DOMAINS) - {d})
        assert res["seed"] == 3 and os.path.isfile(os.path.join(out, d, "config.yaml"))
        assert summary["targets"][d] == {k: res["target"][d][k] for k in ("accuracy", "num_samples")}
    assert (summary["dataset"], summary["trainer"], summary["seed"]) == ("digits_dg", "ERM", 3)
    assert summary["avg"] == pytest.approx(sum(t["accuracy"] for t in summary["targets"].values()) / len(DOMAINS))


@pytest.mark.slow
def test_second_invocation_trains_nothing_and_prints_the_table(reference, digits_root, capsys):
    out, summary = reference
    mtimes = {d: os.path.getmtime(os.path.join(out, d, "results.json")) for d in DOMAINS}
    checkpoints = {d: list_checkpoints(os.path.join(out, d)) for d in DOMAINS}
    capsys.readouterr()
    assert _lodo(digits_root, out) == summary
    printed = capsys.readouterr().out
    assert printed.count("already done") == len(DOMAINS) and "Training from epoch" not in printed
    assert {d: os.path.getmtime(os.path.join(out, d, "results.json")) for d in DOMAINS} == mtimes
    assert {d: list_checkpoints(os.path.join(out, d)) for d in DOMAINS} == checkpoints
    # the table: every held-out domain's accuracy, then the average
    table = printed[printed.index("held out"):]
    for d in DOMAINS:
        assert f"{d} " in table and f"{summary['targets'][d]['accuracy']:7.2f}" in table
    assert f"Avg       {summary['avg']:7.2f}" in table


@pytest.mark.slow
def test_ctrl_c_during_the_second_target_then_the_same_command_finishes_the_same(reference, digits_root,
                                                                                  tmp_path):
    _, ref_summary = reference
    out = str(tmp_path / "stopped")
    cmd = [sys.executable, os.path.join(REPO, "tools", "train.py"), *TINY, "--root", digits_root, "--output-dir", out]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    second_mid = os.path.join(out, DOMAINS[1], "checkpoints", "model-epoch0-step1.pt")
    deadline = time.time() + 300
    while not os.path.exists(second_mid) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(120) == 128 + signal.SIGINT, proc.stderr.read()
    assert os.path.isfile(os.path.join(out, DOMAINS[0], "results.json"))
    assert list_checkpoints(os.path.join(out, DOMAINS[1])) and not os.path.exists(
        os.path.join(out, DOMAINS[1], "results.json"))
    assert not os.path.exists(os.path.join(out, DOMAINS[2])) and not os.path.exists(os.path.join(out, "lodo.json"))
    assert _lodo(digits_root, out) == ref_summary


@pytest.mark.slow
def test_another_config_into_the_same_dirs_is_refused_naming_the_key(reference, digits_root, capsys):
    out, summary = reference
    with pytest.raises(SystemExit):
        main([*TINY, "--root", digits_root, "--output-dir", out, "OPTIM.LR", "0.5"])
    err = capsys.readouterr().err
    assert "was run with another config" in err and "OPTIM.LR" in err and "--overwrite" in err
    assert json.load(open(os.path.join(out, "lodo.json"))) == summary  # nothing was touched


def test_source_domains_without_a_target_is_refused(tmp_path, digits_root, capsys):
    with pytest.raises(SystemExit):
        main([*TINY, "--root", digits_root, "--output-dir", str(tmp_path / "x"), "--source-domains", "mono"])
    assert "pass --target-domains too, or neither for leave-one-domain-out" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "x")


@pytest.mark.slow
def test_lodo_under_torchrun(tmp_path, digits_root):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           os.path.join(REPO, "tools", "train.py"), *TINY, "--root", digits_root, "--output-dir", str(out)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert sorted(os.listdir(out)) == sorted([*DOMAINS, "lodo.json"])
    for d in DOMAINS:
        assert "DDP over 2 processes" in open(out / d / "log.txt").read()
    summary = json.load(open(out / "lodo.json"))
    assert sorted(summary["targets"]) == sorted(DOMAINS)
    assert proc.stdout.count("Leave-one-domain-out on digits_dg") == 1  # rank 0 only
    assert proc.stdout.count("held out  acc (%)") == 1
