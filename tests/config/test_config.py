
import pytest

from slim_dg.config import ConfigError, get_cfg_defaults, merge_from_file, merge_from_list, validate_cfg
from slim_dg.engine.argv_config import build_parser, parse_args, setup_cfg


def _write(path, text):
    path.write_text(text)
    return str(path)


def test_base_inheritance_relative_and_list(tmp_path):
    (tmp_path / "sub").mkdir()
    _write(tmp_path / "sub" / "a.yaml", "OPTIM:\n  LR: 0.5\n  MAX_EPOCH: 3\n")
    _write(tmp_path / "b.yaml", "OPTIM:\n  MAX_EPOCH: 7\nSEED: 4\n")
    child = _write(tmp_path / "child.yaml", "_BASE_: [sub/a.yaml, b.yaml]\nSEED: 9\n")
    cfg = get_cfg_defaults()
    merge_from_file(cfg, child)
    assert (cfg.OPTIM.LR, cfg.OPTIM.MAX_EPOCH, cfg.SEED) == (0.5, 7, 9)


def test_base_cycle_is_reported(tmp_path):
    _write(tmp_path / "a.yaml", "_BASE_: b.yaml\n")
    _write(tmp_path / "b.yaml", "_BASE_: a.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        merge_from_file(get_cfg_defaults(), str(tmp_path / "a.yaml"))


def test_unknown_key_suggests_closest():
    with pytest.raises(ConfigError) as e:
        merge_from_list(get_cfg_defaults(), ["OPTIM.MAX_EPOHC", "3"])
    assert "unknown config key OPTIM.MAX_EPOHC" in str(e.value)
    assert "OPTIM.MAX_EPOCH" in str(e.value)


def test_wrong_type_names_key_and_expected_type():
    with pytest.raises(ConfigError) as e:
        merge_from_list(get_cfg_defaults(), ["OPTIM.LR", "fast"])
    assert "OPTIM.LR expects float" in str(e.value) and "'fast'" in str(e.value)
    with pytest.raises(ConfigError, match="MODEL.BACKBONE.PRETRAINED expects bool"):
        merge_from_list(get_cfg_defaults(), ["MODEL.BACKBONE.PRETRAINED", "1"])


def test_int_for_float_and_tuple_strings_are_accepted(tmp_path):
    cfg = get_cfg_defaults()
    merge_from_list(cfg, ["OPTIM.LR", "1"])
    merge_from_file(cfg, _write(tmp_path / "c.yaml", "INPUT:\n  SIZE: (32, 32)\n"))
    assert cfg.OPTIM.LR == 1.0 and isinstance(cfg.OPTIM.LR, float)
    assert tuple(cfg.INPUT.SIZE) == (32, 32)


def _validated(*opts):
    cfg = get_cfg_defaults()
    merge_from_list(cfg, list(opts))
    validate_cfg(cfg)
    return cfg


@pytest.mark.parametrize("key,value,listed", [
    ("DATASET.NAME", "digts_dg", "digits_dg"),
    ("TRAINER.NAME", "AdvStyleSlim", "AdvStyleSLIM"),
    ("MODEL.BACKBONE.NAME", "resnet181", "resnet18"),
    ("OPTIM.NAME", "sgdd", "sgd"),
    ("SLIM.LOSS", "cosin", "cosine"),
])
def test_unknown_names_list_valid_ones(key, value, listed):
    with pytest.raises((ConfigError, KeyError)) as e:
        _validated(key, value, "DATASET.TARGET_DOMAINS", "['texture']")
    assert value in str(e.value) and listed in str(e.value)


def test_domains_are_checked_and_lodo_fills_sources():
    with pytest.raises(ConfigError, match="Unknown domain 'textures'.*mono, inverse, color, texture"):
        _validated("DATASET.TARGET_DOMAINS", "['textures']")
    with pytest.raises(ConfigError, match="both source and target"):
        _validated("DATASET.SOURCE_DOMAINS", "['mono', 'texture']", "DATASET.TARGET_DOMAINS", "['texture']")
    with pytest.raises(ConfigError, match="No target domain"):
        _validated()
    cfg = _validated("DATASET.TARGET_DOMAINS", "['texture']")
    assert cfg.DATASET.SOURCE_DOMAINS == ["mono", "inverse", "color"]


def test_flags_override_file_and_seed_zero_counts(tmp_path):
    f = _write(tmp_path / "e.yaml", "SEED: 5\nDATASET:\n  TARGET_DOMAINS: ['mono']\n")
    args = build_parser().parse_args(["--config-file", f, "--seed", "0", "--target-domains", "color",
                                      "--output-dir", str(tmp_path / "o"), "OPTIM.LR", "0.2"])
    cfg = setup_cfg(args)
    assert cfg.SEED == 0
    assert cfg.DATASET.TARGET_DOMAINS == ["color"] and "color" not in cfg.DATASET.SOURCE_DOMAINS
    assert cfg.OPTIM.LR == 0.2 and cfg.is_frozen()


def test_adversarial_trainer_needs_adv_name():
    with pytest.raises(ConfigError, match="needs ADV.NAME.*advstyle"):
        _validated("TRAINER.NAME", "Adversarial", "DATASET.TARGET_DOMAINS", "['texture']")
    with pytest.raises(KeyError, match="did you mean 'pgd'"):
        _validated("TRAINER.NAME", "Adversarial", "ADV.NAME", "pdg", "DATASET.TARGET_DOMAINS", "['texture']")


def test_every_shipped_config_loads_and_validates():
    import glob
    import os

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    files = [f for f in glob.glob(os.path.join(repo, "configs", "*.yaml"))]
    assert files
    from slim_dg.data import DATASET_REGISTRY

    for f in files:
        cfg = get_cfg_defaults()
        merge_from_file(cfg, f)
        if cfg.DATASET.NAME not in DATASET_REGISTRY:
            continue  # datasets that are not installed are checked by their own tests
        cfg.DATASET.TARGET_DOMAINS = [DATASET_REGISTRY.get(cfg.DATASET.NAME).domains[-1]]
        validate_cfg(cfg)


def test_domain_lists_stop_at_the_first_config_key():
    args = parse_args(["--target-domains", "texture", "color", "OPTIM.LR", "0.2", "SEED", "3"])
    assert args.target_domains == ["texture", "color"] and args.opts == ["OPTIM.LR", "0.2", "SEED", "3"]


def test_removed_keys_are_refused_with_the_reason(tmp_path):
    f = _write(tmp_path / "old.yaml", "TEST:\n  FINAL_MODEL: best_val\n")
    with pytest.raises(ConfigError, match=r"old.yaml: config key TEST.FINAL_MODEL was removed \(nothing read it"):
        merge_from_file(get_cfg_defaults(), f)
    with pytest.raises(ConfigError, match=r"command line: config key TEST.EVALUATOR was removed \(nothing read it"):
        merge_from_list(get_cfg_defaults(), ["TEST.EVALUATOR", "Accuracy"])
    # every run's config.yaml written before the removal holds both at their defaults: it still loads
    saved = _write(tmp_path / "config.yaml", get_cfg_defaults().dump().replace(
        "\nTEST:\n", "\nTEST:\n  EVALUATOR: Classification\n  FINAL_MODEL: last_step\n"))
    assert "FINAL_MODEL" in open(saved).read()
    cfg = get_cfg_defaults()
    merge_from_file(cfg, saved)
    assert cfg == get_cfg_defaults()


@pytest.mark.parametrize("key,value", [("ADV.TRAIN_ON", "adv"), ("ADV.JOINT_FORWARD", "True")])
def test_robust_trainers_refuse_the_keys_they_do_not_read(key, value):
    for trainer in ("PGDAT", "TRADESSLIM", "MART"):
        with pytest.raises(ConfigError, match=f"{key} {value} does nothing for {trainer}: its outer loss decides"):
            _validated("TRAINER.NAME", trainer, key, value, "DATASET.TARGET_DOMAINS", "['texture']")
    _validated("TRAINER.NAME", "PGD", key, value, "DATASET.TARGET_DOMAINS", "['texture']")  # read there


def test_the_adversarys_own_checks_run_at_validation():
    with pytest.raises(ConfigError, match="ADV.EPS must be >= 0"):
        _validated("TRAINER.NAME", "PGDSLIM", "ADV.EPS", "-0.1", "DATASET.TARGET_DOMAINS", "['texture']")
    with pytest.raises(ConfigError, match="ADV.EPS must be >= 0"):  # the generic trainer: the adversary of ADV.NAME
        _validated("TRAINER.NAME", "Adversarial", "ADV.NAME", "pgd", "ADV.EPS", "-0.1",
                   "DATASET.TARGET_DOMAINS", "['texture']")
    with pytest.raises(ConfigError, match="ADV.FEAT_STAGES must be at least one tap index"):
        _validated("TRAINER.NAME", "FeatAdvStyle", "ADV.FEAT_STAGES", "[]", "DATASET.TARGET_DOMAINS", "['texture']")
