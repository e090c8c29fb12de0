"""A new adversary is one file and one trainer config: the file declares the adversary's config keys
and checks, the config selects and sets it, and ``tools/train.py --plugin FILE`` trains it. Nothing
in slim_dg, tools/ or the tests is edited."""
from __future__ import annotations

import json
import os
import textwrap

import pytest
import yaml

from slim_dg.adversarial import ADVERSARY_REGISTRY
from slim_dg.config import ConfigError, defaults, get_cfg_defaults, merge_from_list
from slim_dg.engine.launch import main

ADVERSARY = '''
import torch

from slim_dg.adversarial import ADVERSARY_REGISTRY, ImageAdversary
from slim_dg.config import ConfigError


@ADVERSARY_REGISTRY.register(name="brightness")
class Brightness(ImageAdversary):
    """A learnable per-image brightness shift of at most ADV.BRIGHTNESS.MAX_SHIFT."""

    config_keys = {"ADV.BRIGHTNESS.MAX_SHIFT": 0.1}

    def __init__(self, max_shift, steps=1, **kw):
        super().__init__(steps, **kw)
        self.max_shift = max_shift

    @classmethod
    def from_config(cls, cfg, model=None):
        a = cfg.ADV
        return cls(a.BRIGHTNESS.MAX_SHIFT, a.STEPS, bn_mode=a.BN_MODE, update_bn=a.UPDATE_BN)

    @classmethod
    def check_config(cls, cfg):
        if cfg.ADV.BRIGHTNESS.MAX_SHIFT <= 0:
            raise ConfigError(f"ADV.BRIGHTNESS.MAX_SHIFT must be > 0, got {cfg.ADV.BRIGHTNESS.MAX_SHIFT}")

    def init_params(self, model, x):
        return [torch.zeros(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype, requires_grad=True)]

    def generate(self, x, params):
        return x + self.max_shift * torch.tanh(params[0])

    @torch.no_grad()
    def ascend(self, x, params, grads):
        params[0].add_(grads[0].sign())
'''

TRAINER_CONFIG = {"TRAINER": {"NAME": "Adversarial"},
                  "ADV": {"NAME": "brightness", "STEPS": 2, "BRIGHTNESS": {"MAX_SHIFT": 0.3}}}


@pytest.fixture
def fresh_registries(monkeypatch):
    """The plugin registers into copies: other tests see neither the adversary nor its keys."""
    monkeypatch.setattr(defaults, "_C", get_cfg_defaults())
    monkeypatch.setattr(defaults, "DECLARED_BY", {k: list(v) for k, v in defaults.DECLARED_BY.items()})
    monkeypatch.setattr(ADVERSARY_REGISTRY, "_obj", dict(ADVERSARY_REGISTRY._obj))


def _write_files(tmp_path, max_shift=0.3):
    plugin = tmp_path / "brightness_adversary.py"
    plugin.write_text(textwrap.dedent(ADVERSARY))
    trainer_cfg = tmp_path / "brightness.yaml"
    cfg = json.loads(json.dumps(TRAINER_CONFIG))
    cfg["ADV"]["BRIGHTNESS"]["MAX_SHIFT"] = max_shift
    trainer_cfg.write_text(yaml.safe_dump({"_BASE_": os.path.join(_configs(), "datasets", "digits_dg.yaml"), **cfg}))
    return plugin, trainer_cfg


def _configs():
    return os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "configs")


def _argv(plugin, config, root, out, slim=False):
    return ["--plugin", str(plugin), "--config-file", str(config), "--root", root, "--target-domains", "texture",
            "--output-dir", out, "MODEL.BACKBONE.NAME", "test_resnet", "INPUT.SIZE", "(16, 16)",
            "OPTIM.MAX_EPOCH", "1", "TRAIN.MAX_ITERS_PER_EPOCH", "1", "TRAIN.EVAL_FREQ", "0",
            "DATALOADER.TRAIN_X.BATCH_SIZE", "4", "DATALOADER.CACHE", "False", "DATALOADER.VERIFY_IMAGES", "False",
            "USE_CUDA", "False", "SLIM.ENABLED", str(slim)]


@pytest.mark.slow  # end to end through tools/train.py's main, evaluation included
@pytest.mark.parametrize("slim", [False, True], ids=["plain", "SLIM"])
def test_one_file_adversary_trains_through_a_config(fresh_registries, tmp_path, digits_root, slim):
    plugin, config = _write_files(tmp_path)
    out = str(tmp_path / "run")
    main(_argv(plugin, config, digits_root, out, slim))
    res = json.load(open(os.path.join(out, "results.json")))
    assert res["trainer"] == "Adversarial" and list(res["target"]) == ["texture"]
    saved = yaml.safe_load(open(os.path.join(out, "config.yaml")))
    assert saved["ADV"]["NAME"] == "brightness" and saved["ADV"]["BRIGHTNESS"] == {"MAX_SHIFT": 0.3}
    assert saved["SLIM"]["ENABLED"] is slim


def test_its_keys_exist_only_once_it_is_registered(fresh_registries, tmp_path, digits_root, capsys):
    plugin, config = _write_files(tmp_path)
    with pytest.raises(ConfigError, match="unknown config key ADV.BRIGHTNESS"):
        merge_from_list(get_cfg_defaults(), ["ADV.BRIGHTNESS.MAX_SHIFT", "0.2"])
    argv = _argv(plugin, config, digits_root, str(tmp_path / "run"))
    with pytest.raises(SystemExit):  # without --plugin: the key is unknown, and said so in one line
        main(argv[2:])
    err = capsys.readouterr().err
    assert "unknown config key ADV.BRIGHTNESS. " in err and "once loaded (--plugin MODULE)" in err


def test_its_own_check_refuses_a_bad_value(fresh_registries, tmp_path, digits_root, capsys):
    plugin, config = _write_files(tmp_path, max_shift=-0.1)
    with pytest.raises(SystemExit):
        main(_argv(plugin, config, digits_root, str(tmp_path / "run")))
    assert "ADV.BRIGHTNESS.MAX_SHIFT must be > 0, got -0.1" in capsys.readouterr().err


def test_a_key_declared_with_another_default_is_refused(fresh_registries):
    class Clash:  # ADV.EPS exists (PGD's) with default 8/255
        config_keys = {"ADV.NEW_KEY": 1, "ADV.EPS": 0.5}

    with pytest.raises(ValueError, match=r"ADV.EPS = 0.5, but it exists with default 0.031.* adversary 'pgd'"):
        ADVERSARY_REGISTRY.register(Clash, name="clash")
    assert "clash" not in ADVERSARY_REGISTRY and "NEW_KEY" not in get_cfg_defaults().ADV  # nothing half-added
