"""Each digits_dg experiment config (every ``configs/digits_dg_*.yaml``) trains end to end and writes a
valid results.json."""
import glob
import json
import os

import pytest

from slim_dg.config import load_yaml_with_base
from slim_dg.engine.launch import main
from slim_dg.evaluation import validate_results

pytestmark = pytest.mark.slow  # a real training per config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
METHODS = sorted(os.path.basename(p)[len("digits_dg_"):-len(".yaml")]
                 for p in glob.glob(os.path.join(REPO, "configs", "digits_dg_*.yaml")))


def test_the_experiment_configs_are_found():
    assert {"erm", "advstyle", "advstyle_slim"} <= set(METHODS)


@pytest.mark.parametrize("method", METHODS)
def test_digits_config_one_epoch(method, tmp_path, digits_root):
    out = str(tmp_path / method)
    main(["--config-file", os.path.join(REPO, "configs", f"digits_dg_{method}.yaml"), "--root", digits_root,
          "--target-domains", "texture", "--output-dir", out, "OPTIM.MAX_EPOCH", "1",
          "TRAIN.MAX_ITERS_PER_EPOCH", "2", "DATALOADER.TRAIN_X.BATCH_SIZE", "8"])
    res = json.load(open(os.path.join(out, "results.json")))
    validate_results(res)
    config = load_yaml_with_base(os.path.join(REPO, "configs", f"digits_dg_{method}.yaml"))
    assert res["trainer"] == config["TRAINER"]["NAME"] and list(res["target"]) == ["texture"]
