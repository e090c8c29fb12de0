"""results.json "provenance": complete on a real digits_dg run; git, device and data parts on their own."""
import json
import os
import shlex
import shutil
import subprocess
import sys

import pytest
import timm
import torch
import torchvision

import slim_dg
from slim_dg.data.datasets.base import DomainSplits, Datum
from slim_dg.data.datasets.downloadable import DownloadableDataset
from slim_dg.engine.launch import main
from slim_dg.evaluation import validate_results
from slim_dg.evaluation.provenance import REQUIRED_KEYS, UNKNOWN, cpu_model, device_info, git_state, image_counts

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(cwd, *args) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.mark.slow
def test_a_digits_dg_run_records_how_it_was_made(tmp_path, digits_root, monkeypatch):
    weights = str(tmp_path / "resnet10t.pth")  # a local copy of named weights: no hub needed
    torch.save(timm.create_model("resnet10t").state_dict(), weights)
    out = str(tmp_path / "run")
    argv = ["--config-file", os.path.join(REPO, "configs", "digits_dg_erm.yaml"), "--root", digits_root,
            "--target-domains", "texture", "--output-dir", out, "OPTIM.MAX_EPOCH", "1",
            "TRAIN.MAX_ITERS_PER_EPOCH", "2", "DATALOADER.TRAIN_X.BATCH_SIZE", "8", "USE_CUDA", "False",
            "MODEL.BACKBONE.NAME", "resnet10t.c3_in1k", "MODEL.BACKBONE.WEIGHTS", weights,
            "TRAIN.AMP", "True", "TRAIN.AMP_DTYPE", "bfloat16"]
    command = ["python", "tools/train.py", *argv]
    monkeypatch.setattr(sys, "orig_argv", command)
    main(argv)
    res = json.load(open(os.path.join(out, "results.json")))
    validate_results(res)
    prov = res["provenance"]
    assert set(REQUIRED_KEYS) <= set(prov)
    assert prov["version"] == slim_dg.__version__
    if shutil.which("git") and os.path.exists(os.path.join(REPO, ".git")):
        assert prov["git"]["commit"] == _git(REPO, "rev-parse", "HEAD")
        assert prov["git"]["dirty"] == bool(_git(REPO, "status", "--porcelain", "--untracked-files=no"))
    assert prov["command"] == shlex.join(command) and prov["cwd"] == os.getcwd()
    assert prov["versions"]["torch"] == torch.__version__ and prov["versions"]["timm"] == timm.__version__
    assert prov["versions"]["torchvision"] == torchvision.__version__
    assert prov["device"]["type"] == "cpu" and prov["device"]["name"] == cpu_model() != "" and prov["device"]["count"] == 1
    assert prov["amp_dtype"] == "bfloat16"
    assert prov["weights"] == f"resnet10t.c3_in1k (from file {weights})"
    # digits_dg: scikit-learn's 1,797 digits split into four domains, every image loaded
    assert prov["data"] == {"images": {"mono": 450, "inverse": 449, "color": 449, "texture": 449},
                            "published": {}, "matches_published": None}


def test_provenance_must_be_complete():
    res = {"dataset": "d", "trainer": "ERM", "backbone": "resnet18", "seed": 1, "source_domains": ["a"],
           "target_domains": ["b"], "target": {"b": {"accuracy": 50.0, "num_samples": 2}}, "source_val": {},
           "epoch": 1, "provenance": {"version": "0.1.0", "git": {"commit": UNKNOWN, "dirty": UNKNOWN}}}
    with pytest.raises(ValueError, match="provenance lacks keys.*'command'.*'weights'"):
        validate_results(res)


# -- git ---------------------------------------------------------------------------------------------
@needs_git
def test_git_commit_and_dirty_flag(tmp_path):
    repo = str(tmp_path)
    _git(repo, "init", "-q")
    open(os.path.join(repo, "a.py"), "w").write("x = 1\n")
    _git(repo, "add", "a.py")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    assert git_state(repo) == {"commit": _git(repo, "rev-parse", "HEAD"), "dirty": False}
    open(os.path.join(repo, "notes.txt"), "w").write("untracked files are not the code that ran\n")
    assert git_state(repo)["dirty"] is False
    open(os.path.join(repo, "a.py"), "w").write("x = 2\n")
    assert git_state(repo)["dirty"] is True
    # a package installed inside some other repository is not that repository's code
    os.makedirs(os.path.join(repo, "site-packages"))
    assert git_state(os.path.join(repo, "site-packages")) == {"commit": UNKNOWN, "dirty": UNKNOWN}


def test_no_git_or_no_repository_says_unknown(tmp_path, monkeypatch):
    assert git_state(str(tmp_path)) == {"commit": UNKNOWN, "dirty": UNKNOWN}  # not a work tree
    monkeypatch.setenv("PATH", str(tmp_path))  # no git binary to be found
    assert git_state(REPO) == {"commit": UNKNOWN, "dirty": UNKNOWN}


# -- data --------------------------------------------------------------------------------------------
class TwoDomains(DownloadableDataset):
    name = "two_domains"
    domains = ("a", "b")
    dataset_dir = "two"
    expected_counts = {"a": 2, "b": 1}
    sizes = {"a": 2, "b": 1}

    @property
    def classnames(self):
        return ["x"]

    def load_domain(self, domain):
        return DomainSplits([Datum(f"{domain}{i}.png", 0, domain) for i in range(self.sizes[domain])], [])


def test_downloadable_datasets_record_their_verified_counts(tmp_path, monkeypatch):
    os.makedirs(tmp_path / "two")
    ds = TwoDomains.open(str(tmp_path))
    assert image_counts(ds, str(tmp_path)) == {"images": {"a": 2, "b": 1}, "published": {"a": 2, "b": 1},
                                               "matches_published": True}
    monkeypatch.setattr(TwoDomains, "sizes", {"a": 2, "b": 5})  # a copy with images the published one lacks
    assert image_counts(ds, str(tmp_path))["matches_published"] is False


# -- device ------------------------------------------------------------------------------------------
def test_gpu_runs_record_the_gpu_name_and_how_many_trained(monkeypatch):
    names = {}
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d: names.setdefault(str(d), "NVIDIA H200"))
    assert device_info(torch.device("cuda", 1), world_size=4) == {"type": "cuda", "name": "NVIDIA H200", "count": 4}
    assert names == {"cuda:1": "NVIDIA H200"}  # the run's own GPU was asked
    cpu = device_info(torch.device("cpu"))
    assert cpu["name"] == cpu_model() and cpu["count"] == 1 and cpu["threads"] == torch.get_num_threads()
