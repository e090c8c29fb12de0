"""Each of the seven digits_dg experiment configs trains end to end and writes a valid results.json."""
import json
import os

import pytest

from slim_dg.engine.launch import main
from slim_dg.evaluation import validate_results

pytestmark = pytest.mark.slow  # a real training per config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
METHODS = {"erm": "ERM", "advstyle": "AdvStyle", "advstyle_slim": "AdvStyleSLIM", "pgd": "PGD",
           "pgd_slim": "PGDSLIM", "featadvstyle": "FeatAdvStyle", "featadvstyle_slim": "FeatAdvStyleSLIM"}


@pytest.mark.parametrize("method", sorted(METHODS))
def test_digits_config_one_epoch(method, tmp_path, digits_root):
    out = str(tmp_path / method)
    main(["--config-file", os.path.join(REPO, "configs", f"digits_dg_{method}.yaml"), "--root", digits_root,
          "--target-domains", "texture", "--output-dir", out, "OPTIM.MAX_EPOCH", "1",
          "TRAIN.MAX_ITERS_PER_EPOCH", "2", "DATALOADER.TRAIN_X.BATCH_SIZE", "8"])
    res = json.load(open(os.path.join(out, "results.json")))
    validate_results(res)
    assert res["trainer"] == METHODS[method] and list(res["target"]) == ["texture"]
