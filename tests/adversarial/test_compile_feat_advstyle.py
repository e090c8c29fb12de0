"""FeatAdvStyle under ``TRAIN.COMPILE`` (issue 22, item 2), found out rather than assumed.

FeatAdvStyle edits stage outputs with forward hooks that exist only during its adversarial passes,
so they are added after the compiled model's first (clean) call. torch.compile does not guard
module hooks, so the compiled graph of the clean pass is reused and the edit silently vanishes.
Dynamo's ``eager`` backend traces and guards exactly as inductor does, without compiling kernels,
so this runs in seconds on CPU. If the first test ever fails, torch has started to see late hooks
and the refusal in ``slim_dg/config/validate.py`` can go.
"""
from __future__ import annotations

import pytest
import torch

from slim_dg.adversarial.base import inner_loop_model
from slim_dg.config import ConfigError, get_cfg_defaults, merge_from_list, validate_cfg

from adv_testutils import make_batch, make_feat_advstyle, make_model


@pytest.fixture
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def test_compiled_model_ignores_the_stage_edit_added_after_its_first_call(fresh_dynamo):
    model = make_model().eval()
    model.compile(backend="eager")
    x, _ = make_batch(b=2)
    adv = make_feat_advstyle(random_start=0.5)
    torch.manual_seed(0)
    params = adv.init_params(model, x)
    with torch.no_grad():
        clean = model(x)  # the first call compiles, without hooks
        through_compiled = adv.forward(model, x, params)
        through_forward = adv.forward(inner_loop_model(model), x, params)
    assert torch.equal(through_compiled, clean), "torch.compile now sees late hooks: lift the refusal"
    assert not torch.allclose(through_forward, clean)  # the edit itself works, uncompiled


@pytest.mark.parametrize("opts", [["TRAINER.NAME", "FeatAdvStyleSLIM"],
                                  ["TRAINER.NAME", "Adversarial", "ADV.NAME", "feat_advstyle"]])
def test_config_refuses_compile_with_feat_advstyle(opts):
    cfg = get_cfg_defaults()
    merge_from_list(cfg, ["DATASET.TARGET_DOMAINS", "['texture']", "TRAIN.COMPILE", "True", *opts])
    with pytest.raises(ConfigError, match="TRAIN.COMPILE True cannot train FeatAdvStyle.*TRAIN.COMPILE False"):
        validate_cfg(cfg)
    cfg.TRAIN.COMPILE = False
    validate_cfg(cfg)


def test_config_accepts_compile_with_image_adversaries():
    cfg = get_cfg_defaults()
    merge_from_list(cfg, ["DATASET.TARGET_DOMAINS", "['texture']", "TRAIN.COMPILE", "True",
                          "TRAINER.NAME", "AdvStyleSLIM"])
    validate_cfg(cfg)
