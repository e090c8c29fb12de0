"""The ``autoattack`` column is the reference AutoAttack (fra31/auto-attack, standard version): equal to
running it directly on the same images with the same seed, refused with its install line when it is not
installed, and never replaced by torchattacks' 10-iteration variant (the separate ``aa_lite`` column)."""
from __future__ import annotations

import re
import sys

import pytest
import torch
from robust_testutils import MEAN, STD
from torch import nn

from slim_dg.analysis.reference_autoattack import INSTALL, standard_autoattack
from slim_dg.analysis.attacks import build_attacks, column
from slim_dg.analysis.robustness_cli import main as robustness_main
from slim_dg.evaluation.adversarial import attack_accuracy

EPS = 8 / 255
CLASSES = 10
MEAN_T, STD_T = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)


def _pixels(n: int, g: torch.Generator, prototypes: torch.Tensor):
    """Noisy copies of one 3x8x8 prototype per class, in [0, 1]."""
    y = torch.randint(0, CLASSES, (n,), generator=g)
    return (prototypes[y] + 0.12 * torch.randn(n, 3, 8, 8, generator=g)).clamp(0, 1), y


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Thousands of tiny steps (the ensemble runs about 7,000): one thread, as more only add overhead (and
    stall on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained():
    """A small MLP trained on normalised 8x8 images (our models' input), and 32 held-out images."""
    g = torch.Generator().manual_seed(0)
    # close enough that 8/255 breaks most but not all of them: APGD-T, FAB-T and Square get points too
    prototypes = 0.425 + 0.15 * torch.rand(CLASSES, 3, 8, 8, generator=g)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 64, 64), nn.ReLU(), nn.Linear(64, CLASSES))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = _pixels(512, g, prototypes)
    for _ in range(60):
        opt.zero_grad()
        nn.functional.cross_entropy(model((x - MEAN_T) / STD_T), y).backward()
        opt.step()
    model.eval()
    pix, y = _pixels(32, g, prototypes)
    return model, pix, y


def test_autoattack_column_equals_the_reference_run_directly(trained):
    autoattack = pytest.importorskip("autoattack")
    model, pix, y = trained
    x = (pix - MEAN_T) / STD_T
    seed = 3
    # ours: the column as tools/robustness.py computes it, on normalised batches
    column = build_attacks(model, MEAN, STD, CLASSES, ["autoattack"], eps=EPS, seed=seed)["autoattack"]
    returned = []
    ours = attack_accuracy(model, [{"img": x, "label": y}], {"autoattack": lambda *b: returned.append(column(*b))
                                                             or returned[-1]}, torch.device("cpu"), seed=0)
    x_ours = returned[0] * STD_T + MEAN_T

    # the reference, called as its README shows, on a model of [0, 1] pixels
    class OnPixels(nn.Module):
        def forward(self, p):
            return model((p - MEAN_T) / STD_T)

    reference = autoattack.AutoAttack(OnPixels(), norm="Linf", eps=EPS, version="standard", seed=seed,
                                      device="cpu", verbose=False)
    x_ref = reference.run_standard_evaluation(pix, y)
    with torch.no_grad():
        robust = (OnPixels()(x_ref).argmax(1) == y).float().mean().item() * 100
        clean = (model(x).argmax(1) == y).float().mean().item() * 100

    assert ours["autoattack"]["accuracy"] == pytest.approx(robust)
    assert torch.allclose(x_ours, x_ref, atol=1e-5)
    assert ours["clean"]["accuracy"] == pytest.approx(clean)
    assert 0 < robust < clean  # a trained model that the attack partly breaks: the comparison means something
    assert (x_ref - pix).abs().max() <= EPS + 1e-6


def test_targeted_attacks_use_the_references_9_target_classes():
    pytest.importorskip("autoattack")
    model = nn.Identity()
    for classes, targets in ((10, 9), (100, 9), (7, 6)):  # CIFAR-10, CIFAR-100, PACS
        aa = standard_autoattack(model, EPS, classes, 0, "cpu")
        assert aa.attacks_to_run == ["apgd-ce", "apgd-t", "fab-t", "square"]
        assert aa.apgd.n_iter == aa.apgd_targeted.n_iter == aa.fab.n_iter == 100 and aa.square.n_queries == 5000
        assert aa.apgd_targeted.n_target_classes == aa.fab.n_target_classes == targets, classes
    with pytest.raises(ValueError, match="at least 4 classes"):
        standard_autoattack(model, EPS, 2, 0, "cpu")


def test_aa_lite_is_torchattacks_variant_with_9_targets_and_its_own_column():
    pytest.importorskip("torchattacks")
    lite = build_attacks(nn.Identity(), MEAN, STD, 100, ["aa_lite"])["aa_lite"]
    apgd, apgdt, fab, _square = lite._autoattack.attacks
    assert apgd.steps == apgdt.steps == fab.steps == 10
    assert apgdt.n_target_classes == fab.n_target_classes == 9  # CIFAR-100: 9 targets, not 99
    assert column("aa_lite") == "AA-lite (10 it.)" and column("autoattack") == "AutoAttack"


def test_autoattack_refused_with_the_install_line_when_missing(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "autoattack", None)  # `import autoattack` now fails
    with pytest.raises(ImportError, match=re.escape(INSTALL)):
        build_attacks(nn.Identity(), MEAN, STD, CLASSES, ["autoattack", "cw"])
    # other columns do not need it
    assert list(build_attacks(nn.Identity(), MEAN, STD, CLASSES, ["cw"])) == ["cw"]
    # the command line refuses before any work: the run dir is not even read
    assert robustness_main(["--model-dir", str(tmp_path / "no-run"), "--attacks", "cw", "autoattack"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and INSTALL in err and len(err.splitlines()) == 1
