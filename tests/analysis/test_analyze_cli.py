"""``tools/analyze.py``: every subcommand end to end on tiny trained digits_dg runs."""
import json
import os

import pytest

from slim_dg.analysis.cli import main
from slim_dg.data.splits import val_split_name
from slim_dg.engine.launch import main as train

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = ["OPTIM.MAX_EPOCH", "1", "TRAIN.MAX_ITERS_PER_EPOCH", "3", "DATALOADER.TRAIN_X.BATCH_SIZE", "16",
        "MODEL.BACKBONE.NAME", "test_resnet"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, digits_root):
    out = tmp_path_factory.mktemp("analysis_runs")
    dirs = []
    for method in ("advstyle", "advstyle_slim"):
        d = str(out / method)
        train(["--config-file", os.path.join(REPO, "configs", f"digits_dg_{method}.yaml"), "--root", digits_root,
               "--target-domains", "texture", "--output-dir", d, *TINY])
        dirs.append(d)
    return dirs


COMMANDS = {
    "perturbation": ["--batch-size", "8"],
    "gradients": ["--batch-size", "8", "--draws", "3"],
    "hessian": ["--batch-size", "8", "--samples", "3"],
    "param-noise": ["--sigmas", "0", "0.1", "--draws", "2"],
    "attack": ["--max-images", "8", "--steps", "2", "--eps", "4/255", "--step-size", "2/255"],
}


@pytest.mark.slow
@pytest.mark.parametrize("command", list(COMMANDS))
def test_subcommand_writes_json_and_png(runs, tmp_path, command, capsys):
    if command == "attack":
        pytest.importorskip("torchattacks")
    out = str(tmp_path / "analysis")
    assert main([command, "--model-dir", *runs, "--output-dir", out, *COMMANDS[command]]) == 0
    doc = json.load(open(os.path.join(out, f"{command}.json")))
    assert doc["command"] == command and set(doc["results"]) == set(runs)
    if command == "gradients":  # the mean cosine of SLIM's ascent direction to the plain one, per run
        assert all(-1 <= r["cos_to_plain"] <= 1 for r in doc["results"].values())
    png = os.path.join(out, f"{command}.png")
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n" and os.path.getsize(png) > 5000
    printed = capsys.readouterr().out
    assert "AdvStyleSLIM" in printed and "AdvStyle (" in printed  # the table names both runs


@pytest.mark.slow
def test_gradients_overrides_reach_the_analysed_objective(runs, tmp_path):
    def gradients(*overrides):
        out = str(tmp_path / "_".join(overrides))
        assert main(["gradients", "--model-dir", runs[0], "--output-dir", out, "--batch-size", "8", "--draws", "3",
                     *overrides]) == 0
        return json.load(open(os.path.join(out, "gradients.json")))["results"][runs[0]]

    default = gradients()
    assert default["slim_settings"]["balance"] == "none" and default["slim_settings"]["lambda_max"] == 1.0
    assert set(default["per_tap"]) == {"act1", "layer1", "layer2", "layer3", "layer4"}
    assert default["cos_to_plain"] < 1 - 1e-6
    # λ ≡ 0: SLIM's direction is the plain one, at every tap
    zero = gradients("SLIM.LAMBDA_MIN", "0", "SLIM.LAMBDA_MAX", "0")
    assert zero["cos_to_plain"] == pytest.approx(1, abs=1e-6)
    assert all(v["cos_to_plain"] == pytest.approx(1, abs=1e-6) for v in zero["per_tap"].values())
    # the same draws, balanced: only the analysed objective's gradient step differs
    balanced = gradients("SLIM.BALANCE", "grad_norm")
    assert balanced["slim_settings"] == {**default["slim_settings"], "balance": "grad_norm"}
    assert balanced["slim_layers_drawn"] == default["slim_layers_drawn"]
    assert balanced["cos_to_plain"] != default["cos_to_plain"]
    assert balanced["plain_pairwise_cosine"] == default["plain_pairwise_cosine"]
    other = gradients("SLIM.LAMBDA_MAX", "10", "SLIM.LAYERS", "[3, 4]")
    assert other["slim_settings"] == {**default["slim_settings"], "lambda_max": 10.0, "layers": ["layer3", "layer4"]}
    assert set(other["per_tap"]) == {"layer3", "layer4"}


@pytest.mark.slow
def test_default_output_is_the_first_runs_analysis_dir(runs):
    assert main(["param-noise", "--model-dir", runs[0], "--sigmas", "0", "--draws", "1"]) == 0
    doc = json.load(open(os.path.join(runs[0], "analysis", "param-noise.json")))
    # zero noise: the clean per-domain accuracy of the run's own evaluation (results.json)
    res = json.load(open(os.path.join(runs[0], "results.json")))
    assert doc["results"][runs[0]][0]["domains"]["texture"]["accuracy"] == res["target"]["texture"]["accuracy"]
    # every evaluation split: the target by its name, each source's validation split as data.splits names it
    assert set(doc["results"][runs[0]][0]["domains"]) == {"texture", *map(val_split_name, res["source_val"])}


def test_bad_model_dir_is_a_clear_error(tmp_path, capsys):
    assert main(["hessian", "--model-dir", str(tmp_path)]) == 2
    assert "no config.yaml" in capsys.readouterr().err
