"""Flags after ``KEY VALUE`` pairs are flags, for every tool that takes pairs (argparse's REMAINDER, as
Dassl uses it, would take them for more pairs)."""
from slim_dg.analysis import cli as analyze_cli
from slim_dg.analysis import robustness_cli
from slim_dg.config.argv import split_config_pairs
from slim_dg.engine.argv_config import parse_args as train_args
from slim_dg.sweep import cli as sweep_cli


def test_pairs_are_taken_out_wherever_they_are():
    flags, pairs = split_config_pairs(["OPTIM.MAX_EPOCH", "1", "--seed", "3", "SLIM.LAMBDA_MIN", "-1", "--grid",
                                       "SLIM.LOSS=cosine,reverse", "SEED", "2", "--", "OPTIM.LR", "1"])
    assert pairs == ["OPTIM.MAX_EPOCH", "1", "SLIM.LAMBDA_MIN", "-1", "SEED", "2"]
    assert flags == ["--seed", "3", "--grid", "SLIM.LOSS=cosine,reverse", "--", "OPTIM.LR", "1"]


def test_train_flags_after_pairs():
    args = train_args(["--config-file", "f.yaml", "OPTIM.MAX_EPOCH", "1", "--seed", "3", "--output-dir", "X",
                       "--target-domains", "texture", "OPTIM.LR", "0.1", "--overwrite"])
    assert (args.seed, args.output_dir, args.target_domains, args.overwrite) == (3, "X", ["texture"], True)
    assert args.opts == ["OPTIM.MAX_EPOCH", "1", "OPTIM.LR", "0.1"]


def test_sweep_flags_after_opts_and_bare_pairs():
    args = sweep_cli.parse_args(["--config-file", "a.yaml", "OPTIM.LR", "0.1", "--opts", "OPTIM.MAX_EPOCH", "1",
                                 "--seeds", "2", "3", "--output-dir", "o", "--dry-run"])
    assert args.config_file == ["a.yaml"] and args.seeds == [2, 3] and args.output_dir == "o" and args.dry_run
    assert args.opts == ["OPTIM.LR", "0.1", "OPTIM.MAX_EPOCH", "1"]


def test_analyze_and_robustness_flags_after_pairs():
    args = analyze_cli.parse_args(["attack", "--model-dir", "d", "DATASET.ROOT", "/data", "--steps", "3",
                                   "--seed", "4"])
    assert (args.model_dir, args.steps, args.seed, args.opts) == (["d"], 3, 4, ["DATASET.ROOT", "/data"])
    args = robustness_cli.parse_args(["--model-dir", "d", "e", "DATASET.ROOT", "/data", "--steps", "3"])
    assert (args.model_dir, args.steps, args.opts) == (["d", "e"], 3, ["DATASET.ROOT", "/data"])
