"""Kill-safe checkpoints and exact resume, eval-only, determinism, and bad input (issue: Reliability)."""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image

from slim_dg.data import DATASET_REGISTRY, DGDataset
from slim_dg.data.datasets.folder import read_domain_folder
from slim_dg.engine import TRAINER_REGISTRY
from slim_dg.engine.checkpoint import list_checkpoints, load_checkpoint
from slim_dg.engine.erm import ERM
from slim_dg.engine.launch import main

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAIN = [sys.executable, os.path.join(REPO, "tools", "train.py")]
# AdvStyle + SLIM exercises every random stream: sampler, augmentation (in 2 workers), the adversary's
# random start (global torch RNG) and SLIM's own generator
RUN = ["--config-file", os.path.join(REPO, "configs", "digits_dg_advstyle_slim.yaml"), "--target-domains", "texture",
       "MODEL.BACKBONE.NAME", "resnet10t", "OPTIM.MAX_EPOCH", "3", "TRAIN.MAX_ITERS_PER_EPOCH", "6",
       "TRAIN.CHECKPOINT_FREQ", "2", "TRAIN.CHECKPOINT_KEEP", "0", "TRAIN.EVAL_FREQ", "1",
       "DATALOADER.TRAIN_X.BATCH_SIZE", "8", "DATALOADER.NUM_WORKERS", "2"]


def _final_state(out):
    return load_checkpoint(os.path.join(out, "checkpoints", "model-epoch3.pt"))["model"]


def _same_run(a, b):
    ra, rb = (json.load(open(os.path.join(d, "results.json"))) for d in (a, b))
    assert ra == rb
    sa, sb = _final_state(a), _final_state(b)
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, digits_root):
    out = str(tmp_path_factory.mktemp("ref") / "run")
    main([*RUN, "--root", digits_root, "--output-dir", out])
    return out


@pytest.mark.slow
def test_same_seed_same_results_and_weights(reference, digits_root, tmp_path):
    again = str(tmp_path / "again")
    main([*RUN, "--root", digits_root, "--output-dir", again])
    _same_run(reference, again)
    other = str(tmp_path / "seed0")
    main([*RUN, "--root", digits_root, "--output-dir", other, "--seed", "0"])
    assert json.load(open(os.path.join(other, "results.json")))["seed"] == 0
    assert not torch.equal(_final_state(other)["head.weight"], _final_state(reference)["head.weight"])


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killed_run_resumes_to_the_same_weights(reference, digits_root, tmp_path, sig):
    out = str(tmp_path / "killed")
    proc = subprocess.Popen([*TRAIN, *RUN, "--root", digits_root, "--output-dir", out], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    first_mid = os.path.join(out, "checkpoints", "model-epoch0-step2.pt")
    deadline = time.time() + 240
    while not os.path.exists(first_mid) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    proc.send_signal(sig)
    rc = proc.wait(60)
    assert rc == (-signal.SIGKILL if sig == signal.SIGKILL else 128 + signal.SIGTERM), proc.stderr.read()
    assert not os.path.exists(os.path.join(out, "results.json")), "the run finished before it was stopped"
    newest = list_checkpoints(out)[-1]
    state = load_checkpoint(newest)
    assert (state["epoch"], state["step_in_epoch"]) < (3, 0)
    main(["--resume", out])
    _same_run(reference, out)


@pytest.mark.slow
def test_background_checkpoints_are_whole_when_the_run_ends_by_sigterm_or_normally(reference, digits_root, tmp_path,
                                                                                   monkeypatch):
    """Every write held back (a slow disk): the run still returns with each checkpoint whole, after
    SIGTERM as at its normal end, and resuming from the one SIGTERM saved ends as the uninterrupted run."""
    from slim_dg.engine import checkpoint

    real = checkpoint.save_checkpoint

    def slow_save(state, path):
        if path.endswith("model-epoch1-step2.pt"):
            os.kill(os.getpid(), signal.SIGTERM)  # arrives in the training thread during this write
        time.sleep(0.5)
        return real(state, path)

    monkeypatch.setattr(checkpoint, "save_checkpoint", slow_save)
    out = str(tmp_path / "slow")
    with pytest.raises(SystemExit) as stopped:
        main([*RUN, "--root", digits_root, "--output-dir", out])
    assert stopped.value.code == 128 + signal.SIGTERM
    assert not [t for t in threading.enumerate() if t.name.startswith("checkpoint")]  # nothing left pending
    names = sorted(os.listdir(os.path.join(out, "checkpoints")))
    assert not [n for n in names if n.endswith(".tmp")], names
    assert all(load_checkpoint(os.path.join(out, "checkpoints", n)) for n in names)
    newest = load_checkpoint(list_checkpoints(out)[-1])  # the signal's: step 2 or 3 of epoch 2, as it arrived
    assert (newest["epoch"], newest["step_in_epoch"]) in ((1, 2), (1, 3))
    main(["--resume", out])
    _same_run(reference, out)
    names = sorted(os.listdir(os.path.join(out, "checkpoints")))
    assert {"model-epoch3.pt", "model-best.pt"} <= set(names) and not [n for n in names if n.endswith(".tmp")]


@pytest.mark.slow
def test_truncated_newest_checkpoint_falls_back_to_the_previous(reference, tmp_path):
    import shutil

    out = str(tmp_path / "copy")
    shutil.copytree(reference, out)
    for p in list_checkpoints(out)[-3:]:  # epoch 3's mid-epoch and final ones, and one of epoch 2
        os.remove(p)
    newest = list_checkpoints(out)[-1]
    with open(newest, "r+b") as f:
        f.truncate(os.path.getsize(newest) // 2)
    os.remove(os.path.join(out, "results.json"))
    main(["--resume", out])
    assert "model-epoch2.pt is unreadable" in open(os.path.join(out, "log.txt")).read()  # says what it skipped
    _same_run(reference, out)


@pytest.mark.slow
def test_resume_with_a_changed_config_names_the_keys(reference, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--resume", reference, "OPTIM.LR", "0.5", "SLIM.LOSS", "orthogonal"])
    err = capsys.readouterr().err
    assert "OPTIM.LR: 0.001 -> 0.5" in err and "SLIM.LOSS: 'cosine' -> 'orthogonal'" in err and "--force" in err


@pytest.mark.slow
@pytest.mark.parametrize("which", ["3", "best", "model-epoch1-step4.pt", None])
def test_eval_only_on_final_best_and_mid_epoch_checkpoints(reference, tmp_path, which):
    out = str(tmp_path / "eval")
    main(["--eval-only", "--model-dir", reference, "--output-dir", out]
         + (["--load-epoch", which] if which else []))
    res = json.load(open(os.path.join(out, "results.json")))
    assert list(res["target"]) == ["texture"] and res["target"]["texture"]["num_samples"] == 449
    if which in ("3", None):
        assert res["target"] == json.load(open(os.path.join(reference, "results.json")))["target"]


@pytest.mark.slow
def test_eval_only_without_validation_data(digits_root, tmp_path):
    run = str(tmp_path / "noval")
    main([*RUN[:4], "--root", digits_root, "--output-dir", run, "MODEL.BACKBONE.NAME", "resnet10t",
          "OPTIM.MAX_EPOCH", "1", "TRAIN.MAX_ITERS_PER_EPOCH", "1", "DATASET.VAL_RATIO", "0.0"])
    out = str(tmp_path / "eval")
    main(["--eval-only", "--model-dir", run, "--output-dir", out])
    res = json.load(open(os.path.join(out, "results.json")))
    assert res["source_val"] == {} and res["target"]["texture"]["num_samples"] == 449


def test_loader_refuses_pickled_objects(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model": {}, "payload": np.random.default_rng(0)}, path)  # an arbitrary Python object
    with pytest.raises(Exception, match="[Ww]eights only load failed|Unsupported"):
        load_checkpoint(str(path))


# ---------------------------------------------------------------------------- bad input
@DATASET_REGISTRY.register(name="tiny_folder_for_tests")
class TinyFolder(DGDataset):
    domains = ("a", "b", "c")
    dataset_dir = "tiny"
    download_hint = "Fetch it with: python tools/download.py tiny"

    @property
    def classnames(self):
        return list(TINY_CLASSES)

    def load_domain(self, domain):
        return read_domain_folder(self.dataset_root, domain, self.classnames, self.val_ratio)


TINY_CLASSES = ("x", "y")


def _tiny(root, empty_domain=None, bad_image=False):
    for d in TinyFolder.domains:
        for c in TINY_CLASSES:
            os.makedirs(os.path.join(root, "tiny", d, c))
            if d == empty_domain:
                continue
            for i in range(4):
                Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(os.path.join(root, "tiny", d, c, f"{i}.png"))
    if bad_image:
        open(os.path.join(root, "tiny", "a", "x", "broken.png"), "wb").write(b"\x89PNG\r\n\x1a\n truncated")


TINY = ["DATASET.NAME", "tiny_folder_for_tests", "MODEL.BACKBONE.NAME", "resnet10t", "INPUT.SIZE", "(16, 16)",
        "OPTIM.MAX_EPOCH", "1", "DATALOADER.NUM_WORKERS", "0", "DATALOADER.TRAIN_X.BATCH_SIZE", "4",
        "DATASET.VAL_RATIO", "0.0"]
BAD_INPUTS = [
    # (name, extra args, expected message, data set-up)
    ("unknown key", ["OPTIM.LRR", "0.1"], "unknown config key OPTIM.LRR. Did you mean: OPTIM.LR", None),
    ("wrong type", ["OPTIM.MAX_EPOCH", "'ten'"], "OPTIM.MAX_EPOCH expects int", None),
    ("negative lr", ["OPTIM.LR", "-0.1"], "OPTIM.LR must be > 0", None),
    ("lambda range", ["SLIM.LAMBDA_MIN", "1.0", "SLIM.LAMBDA_MAX", "-1.0"], "must not exceed SLIM.LAMBDA_MAX", None),
    ("negative eps", ["TRAINER.NAME", "PGD", "ADV.EPS", "-0.1"], "ADV.EPS must be >= 0", None),
    ("unknown tap", ["TRAINER.NAME", "AdvStyleSLIM", "SLIM.LAYERS", "['layer9']"], "Unknown tap 'layer9'", "ok"),
    ("unknown dataset", ["DATASET.NAME", "pacss"], "Unknown dataset 'pacss'", None),
    ("unknown trainer", ["TRAINER.NAME", "AdvStyleSLlM"], "did you mean 'AdvStyleSLIM'", None),
    ("unknown backbone", ["MODEL.BACKBONE.NAME", "resnet_18"], "Unknown backbone 'resnet_18'", None),
    ("unknown domain", ["--target-domains", "d"], "Unknown domain 'd'", None),
    ("missing dataset", [], "python tools/download.py tiny", "missing"),
    ("empty domain", [], "No images under", "empty"),
    ("batch larger than data", ["DATALOADER.TRAIN_X.BATCH_SIZE", "64"], "larger than the training set", "ok"),
    ("batch larger than a domain", ["DATALOADER.TRAIN_X.SAMPLER", "RandomDomainSampler",
                                    "DATALOADER.TRAIN_X.N_DOMAIN", "1", "DATALOADER.TRAIN_X.BATCH_SIZE", "10"],
     "have fewer", "ok"),
]


@pytest.mark.parametrize("name,extra,message,data", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_fails_fast_and_leaves_nothing(tmp_path, capsys, name, extra, message, data):
    root = str(tmp_path / "data")
    if data in ("ok", "empty"):
        _tiny(root, empty_domain="b" if data == "empty" else None)
    out = str(tmp_path / "out")
    flags = [e for e in extra if e.startswith("--") or extra.index(e) > 0 and extra[extra.index(e) - 1].startswith("--")]
    opts = [e for e in extra if e not in flags]
    with pytest.raises(SystemExit) as e:
        main(["--root", root, "--target-domains", "c", *flags, "--output-dir", out, *TINY, *opts])
    assert e.value.code == 2
    assert message in capsys.readouterr().err
    assert not os.path.exists(out)


@pytest.mark.slow
def test_bad_image_fails_with_its_path_or_is_skipped_and_counted(tmp_path):
    root = str(tmp_path / "data")
    _tiny(root, bad_image=True)
    with pytest.raises(RuntimeError, match="broken.png.*DATALOADER.ON_BAD_IMAGE skip"):  # the loader finds it
        main(["--root", root, "--target-domains", "c", "--output-dir", str(tmp_path / "fail"), *TINY,
              "DATALOADER.VERIFY_IMAGES", "False"])
    out = str(tmp_path / "skip")
    main(["--root", root, "--target-domains", "c", "--output-dir", out, *TINY, "DATALOADER.ON_BAD_IMAGE", "skip",
          "DATALOADER.TRAIN_X.SAMPLER", "SequentialSampler", "DATALOADER.TRAIN_X.BATCH_SIZE", "17"])
    assert json.load(open(os.path.join(out, "results.json")))["skipped_train_images"] == 1


@TRAINER_REGISTRY.register(name="NaNAfterTwoSteps")
class NaNAfterTwoSteps(ERM):
    def compute_losses(self, batch):
        losses = super().compute_losses(batch)
        return {k: v * float("nan") for k, v in losses.items()} if self.iter == 2 else losses


def test_non_finite_loss_stops_with_the_iteration_and_keeps_the_last_good_checkpoint(tmp_path):
    root = str(tmp_path / "data")
    _tiny(root)
    out = str(tmp_path / "nan")
    with pytest.raises(FloatingPointError, match="non-finite at iteration 2 .*'ce': nan"):
        main(["--root", root, "--target-domains", "c", "--output-dir", out, *TINY, "TRAINER.NAME", "NaNAfterTwoSteps",
              "TRAIN.CHECKPOINT_FREQ", "1", "DATALOADER.TRAIN_X.BATCH_SIZE", "2"])
    names = [os.path.basename(p) for p in list_checkpoints(out)]
    assert names[-1] == "model-epoch0-step2.pt"  # the step that went non-finite was never applied or saved
    state = load_checkpoint(os.path.join(out, "checkpoints", names[-1]))
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
