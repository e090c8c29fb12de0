"""OPTIM.*: the optimizers, and the fused kernel giving the same update as torch's default one."""
import pytest
import torch

from slim_dg.config import get_cfg_defaults
from slim_dg.engine import build_trainer
from slim_dg.engine.optim import build_optimizer

from cfg_testutils import digits_cfg


def _cfg(name, fused):
    cfg = get_cfg_defaults()
    cfg.merge_from_list(["OPTIM.NAME", name, "OPTIM.FUSED", fused, "OPTIM.LR", 0.05])
    return cfg


def _train(cfg, steps=5):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    opt = build_optimizer(cfg, model.parameters())
    x, y = torch.randn(32, 8), torch.randint(0, 3, (32,))
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return opt, torch.cat([p.detach().flatten() for p in model.parameters()])


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
def test_fused_update_equals_default(name):
    fused_opt, fused = _train(_cfg(name, True))
    plain_opt, plain = _train(_cfg(name, False))
    assert fused_opt.defaults["fused"] is True  # torch has fused CPU kernels for all three
    assert not plain_opt.defaults.get("fused")
    assert not torch.equal(plain, _train(_cfg(name, False), steps=0)[1])  # the steps moved the weights
    torch.testing.assert_close(fused, plain, rtol=1e-5, atol=1e-6)


def test_unknown_optimizer_lists_the_valid_ones():
    with pytest.raises(ValueError, match="Available: sgd, adam, adamw"):
        build_optimizer(_cfg("lamb", True), [torch.nn.Parameter(torch.zeros(1))])


@pytest.mark.slow
@pytest.mark.parametrize("saved,resumed", [(False, True), (True, False)])
def test_resumed_trainer_follows_its_own_fused_setting(digits_root, tmp_path, saved, resumed):
    def trainer(fused, out):  # digits_dg_erm.yaml trains with Adam
        return build_trainer(digits_cfg(digits_root, "digits_dg_erm.yaml", "MODEL.BACKBONE.NAME", "resnet10t",
                                        "OPTIM.FUSED", str(fused), "OUTPUT_DIR", str(tmp_path / out)))

    first = trainer(saved, "a")
    first.run_step(next(iter(first.train_loader)))
    state = first.state_dict()
    again = trainer(resumed, "b")
    again.load_state_dict(state)
    assert all(bool(g["fused"]) is resumed for g in again.optimizer.param_groups)
    again.run_step(next(iter(again.train_loader)))  # steps on the loaded Adam state
    assert again.optimizer.state_dict()["state"][0]["step"].item() == 2
