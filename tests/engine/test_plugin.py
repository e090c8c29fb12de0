"""A dataset and a trainer defined in a user's own module run without any edit in tools/."""
import json
import os
import textwrap

import numpy as np
import pytest
from PIL import Image

from slim_dg.engine.launch import main

PLUGIN = '''
import torch.nn.functional as F

from slim_dg.data import DATASET_REGISTRY, DGDataset
from slim_dg.data.datasets.folder import read_domain_folder
from slim_dg.engine import TRAINER_REGISTRY
from slim_dg.engine.erm import ERM


@DATASET_REGISTRY.register(name="toy_shapes_TAG")
class ToyShapes(DGDataset):
    domains = ("red", "green", "blue")
    dataset_dir = "toy_shapes"

    @property
    def classnames(self):
        return ["bright", "dark"]

    def load_domain(self, domain):
        return read_domain_folder(self.dataset_root, domain, self.classnames, self.val_ratio)


@TRAINER_REGISTRY.register(name="LabelSmoothERM_TAG")
class LabelSmoothERM(ERM):
    def compute_losses(self, batch):
        return {"ce_ls": F.cross_entropy(self.model(batch["img"]), batch["label"], label_smoothing=0.1)}
'''


def _toy_tree(root):
    rng = np.random.default_rng(0)
    for c, dom in enumerate(("red", "green", "blue")):
        for label, level in ((0, 220), (1, 30)):
            d = os.path.join(root, "toy_shapes", dom, ["bright", "dark"][label])
            os.makedirs(d)
            for i in range(8):
                img = np.full((16, 16, 3), level, np.uint8)
                img[..., c] = rng.integers(0, 255)
                Image.fromarray(img).save(os.path.join(d, f"{i}.png"))


@pytest.mark.slow
@pytest.mark.parametrize("by", ["path", "module name"])
def test_user_module_registers_dataset_and_trainer(tmp_path, monkeypatch, by):
    tag = by.replace(" ", "_")  # each case registers its own names: registries refuse duplicates
    plugin = tmp_path / f"my_dg_plugin_{tag}.py"
    plugin.write_text(textwrap.dedent(PLUGIN).replace("TAG", tag))
    if by == "module name":
        monkeypatch.syspath_prepend(str(tmp_path))
    _toy_tree(str(tmp_path / "data"))
    out = str(tmp_path / "out")
    main(["--plugin", str(plugin) if by == "path" else plugin.stem, "--root", str(tmp_path / "data"), "--target-domains", "blue",
          "--output-dir", out, "DATASET.NAME", f"toy_shapes_{tag}", "TRAINER.NAME", f"LabelSmoothERM_{tag}",
          "MODEL.BACKBONE.NAME", "resnet10t", "INPUT.SIZE", "(16, 16)", "OPTIM.MAX_EPOCH", "1",
          "DATALOADER.NUM_WORKERS", "0", "DATALOADER.TRAIN_X.BATCH_SIZE", "8"])
    res = json.load(open(os.path.join(out, "results.json")))
    assert res["dataset"] == f"toy_shapes_{tag}" and res["trainer"] == f"LabelSmoothERM_{tag}"
    assert res["source_domains"] == ["red", "green"] and res["target"]["blue"]["num_samples"] == 16
