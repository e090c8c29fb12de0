"""``build_hooks`` of every registered trainer keeps the writer last: it closes TensorBoard and the
progress bar, so a hook after it would log into a closed writer (detectron2's order)."""
from __future__ import annotations

import pytest

from slim_dg.config import get_cfg_defaults
from slim_dg.engine import TRAINER_REGISTRY
from slim_dg.engine.hooks import EvalHook, WriterHook
from slim_dg.modeling.backbone import create_timm_backbone
from slim_dg.modeling.classifier import Classifier


def _without_data(trainer_cls: type) -> type:
    """The registered class with a tiny model and a (fake) source validation split, its own build_hooks."""

    class Tiny(trainer_cls):
        def build_data_loaders(self):
            self.dataset = None
            # a validation split: the robust trainers add their best-by-PGD hook only when there is one
            self.train_loader, self.val_loaders, self.test_loaders = (), {"a (val)": ()}, {}

        def build_model(self):
            return Classifier(create_timm_backbone("test_resnet", img_size=(16, 16)), 10)

    return Tiny


@pytest.mark.parametrize("name", TRAINER_REGISTRY.names())
def test_the_writer_hook_runs_last(name, tmp_path):
    cfg = get_cfg_defaults()
    cfg.TRAINER.NAME, cfg.ADV.NAME, cfg.USE_CUDA, cfg.OUTPUT_DIR = name, "advstyle", False, str(tmp_path)
    cfg.freeze()
    trainer = _without_data(TRAINER_REGISTRY.get(name))(cfg)
    kinds = [type(h) for h in trainer.hooks]
    assert EvalHook in kinds and kinds[-1] is WriterHook, kinds
    assert kinds.count(WriterHook) == 1
