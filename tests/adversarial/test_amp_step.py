"""The speed options of the one training step (issue 9) on CPU: bfloat16 autocast (the adversaries'
inner loops included) and channels_last keep λ ≡ 0 SLIM bit-identical to the plain method; the
float16 loss scaling of the inner loop; TRAIN.AMP / CHANNELS_LAST / COMPILE from the config."""
from __future__ import annotations


import pytest
import torch

from slim_dg.adversarial.objectives import OutputLoss
from slim_dg.config import ConfigError, get_cfg_defaults, merge_from_list, validate_cfg
from slim_dg.engine import adversarial as adv_trainers
from slim_dg.engine import build_trainer
from slim_dg.engine.trainer import autocast_dtype

from adv_testutils import ADVERSARIES, MEAN, STD, make_batch, make_model, perturb_seeded, run_steps
from cfg_testutils import digits_cfg
from trainer_testutils import without_data

PAIRS = {  # adversary -> (plain trainer, SLIM trainer, random start)
    "advstyle": (adv_trainers.AdvStyle, adv_trainers.AdvStyleSLIM, 0.1),
    "pgd": (adv_trainers.PGD, adv_trainers.PGDSLIM, 1.0),
    "feat_advstyle": (adv_trainers.FeatAdvStyle, adv_trainers.FeatAdvStyleSLIM, 0.1),
}
SETTINGS = [("train", "clean+adv"), ("eval", "clean+adv"), ("train", "adv")]


def _build(adversary, slim, bn_mode, train_on, lam, amp=True):
    """A trainer without data whose TRAIN.AMP (bfloat16) and TRAIN.CHANNELS_LAST are ``amp``."""
    cfg = get_cfg_defaults()
    cfg.INPUT.PIXEL_MEAN, cfg.INPUT.PIXEL_STD = list(MEAN), list(STD)
    cfg.ADV.STEPS, cfg.ADV.RANDOM_START = 2, PAIRS[adversary][2]
    cfg.ADV.BN_MODE, cfg.ADV.TRAIN_ON = bn_mode, train_on
    cfg.SLIM.LAMBDA_MIN, cfg.SLIM.LAMBDA_MAX = lam
    cfg.TRAIN.AMP, cfg.TRAIN.AMP_DTYPE, cfg.TRAIN.CHANNELS_LAST = amp, "bfloat16", amp
    cfg.SEED = 3
    cfg.USE_CUDA = False
    cfg.freeze()
    return without_data(PAIRS[adversary][1 if slim else 0], make_model)(cfg)


class _Dtypes:
    """Records the dtype of every convolution's output: bfloat16 when autocast is on."""

    def __init__(self, model):
        self.seen = set()
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.register_forward_hook(lambda _m, _i, out: self.seen.add(out.dtype))


@pytest.mark.slow
@pytest.mark.parametrize("adversary", list(PAIRS))
@pytest.mark.parametrize("bn_mode,train_on", SETTINGS)
def test_lambda_zero_step_bit_identical_under_bf16_and_channels_last(adversary, bn_mode, train_on):
    plain = _build(adversary, False, bn_mode, train_on, (0.0, 0.0))
    slim = _build(adversary, True, bn_mode, train_on, (0.0, 0.0))
    rec = _Dtypes(slim.model)
    lp, ls = run_steps(plain), run_steps(slim)
    assert rec.seen == {torch.bfloat16}  # every pass ran under autocast, the inner loop's too
    for a, b in zip(lp, ls):
        assert torch.equal(a["loss"], b["loss"])
    sp, ss = plain.model.state_dict(), slim.model.state_dict()
    assert all(torch.equal(sp[k], ss[k]) for k in sp)
    assert slim.model.backbone.model.conv1[0].weight.is_contiguous(memory_format=torch.channels_last)
    fresh = make_model().state_dict()
    assert any(not torch.equal(v, fresh[k]) for k, v in sp.items())  # not vacuous: it trained
    other = _build(adversary, True, bn_mode, train_on, (0.5, 1.0))
    run_steps(other)
    so = other.model.state_dict()
    assert any(not torch.equal(v, so[k]) for k, v in sp.items() if v.is_floating_point())


def test_bf16_channels_last_step_stays_close_to_float32():
    """Autocast changes the arithmetic, not the method: one bf16 step lands near the float32 step."""
    amp = _build("advstyle", True, "train", "clean+adv", (-1.0, 1.0))
    ref = _build("advstyle", True, "train", "clean+adv", (-1.0, 1.0), amp=False)
    assert amp.amp_dtype is torch.bfloat16 and ref.amp_dtype is None
    assert ref.model.backbone.model.conv1[0].weight.is_contiguous()
    (la,), (lr,) = run_steps(amp, 1), run_steps(ref, 1)
    assert abs(la["loss"].item() - lr["loss"].item()) < 0.05 * lr["loss"].item()


@pytest.mark.parametrize("adversary", list(ADVERSARIES))
def test_inner_loop_loss_scaling_is_exact_and_skips_overflows(adversary):
    model = make_model()
    x, y = make_batch()
    plain = perturb_seeded(ADVERSARIES[adversary](), model, x, y, OutputLoss())
    scaled_adv = ADVERSARIES[adversary]()
    scaled_adv.grad_scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 16)  # a power of two: exact
    scaled = perturb_seeded(scaled_adv, model, x, y, OutputLoss())
    assert all(torch.equal(a, b) for a, b in zip(plain, scaled))
    # a scale at which the gradient overflows: that ascent step is skipped, as the GradScaler skips
    overflow = ADVERSARIES[adversary](steps=1)
    overflow.grad_scaler = torch.amp.GradScaler("cpu", init_scale=float("inf"))
    start = perturb_seeded(ADVERSARIES[adversary](steps=0), model, x, y, OutputLoss())
    assert all(torch.equal(a, b) for a, b in zip(start, perturb_seeded(overflow, model, x, y, OutputLoss())))


def _cfg(digits_root, *opts):
    return digits_cfg(digits_root, "digits_dg_advstyle_slim.yaml", "MODEL.BACKBONE.NAME", "resnet10t",
                      "DATALOADER.TRAIN_X.BATCH_SIZE", "8", *opts)


def test_config_keys_reach_the_trainer(digits_root, monkeypatch, tmp_path):
    compiled = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, *a, **k: compiled.append(type(self).__name__))
    t = build_trainer(_cfg(digits_root, "TRAIN.AMP", "True", "TRAIN.CHANNELS_LAST", "True", "TRAIN.COMPILE", "True",
                           "OUTPUT_DIR", str(tmp_path)))
    assert t.amp_dtype is torch.bfloat16 and t.memory_format is torch.channels_last and compiled == ["Classifier"]
    assert not t.scaler.is_enabled() and t.adversary.grad_scaler is None  # bfloat16: no loss scaling
    batch = next(iter(t.train_loader))
    losses = t.run_step(batch)
    assert torch.isfinite(losses["loss"])
    res = t.evaluate()  # evaluation under the same autocast and memory format
    assert res["target"]["texture"]["num_samples"] == 449
    state = t.state_dict()
    assert state["scaler"] == {}  # a disabled scaler has nothing to save; loading it is a no-op
    t.load_state_dict(state)
    plain = build_trainer(_cfg(digits_root, "OUTPUT_DIR", str(tmp_path)))
    assert plain.amp_dtype is None and plain.memory_format is torch.contiguous_format and len(compiled) == 1


def test_amp_config_is_validated():
    with pytest.raises(ConfigError, match="TRAIN.AMP_DTYPE; did you mean 'float16'"):
        merge_from_list(cfg := get_cfg_defaults(), ["TRAIN.AMP_DTYPE", "fp16", "DATASET.TARGET_DOMAINS", "['texture']"])
        validate_cfg(cfg)
    with pytest.raises(ConfigError, match="TRAIN.COMPILE expects bool"):
        merge_from_list(get_cfg_defaults(), ["TRAIN.COMPILE", "'yes'"])
    cfg = get_cfg_defaults()
    cfg.TRAIN.AMP, cfg.TRAIN.AMP_DTYPE = True, "float16"
    with pytest.raises(ValueError, match="float16 needs a GPU.*bfloat16"):
        autocast_dtype(cfg, torch.device("cpu"))
    assert autocast_dtype(cfg, torch.device("cuda")) is torch.float16
    cfg.TRAIN.AMP = False
    assert autocast_dtype(cfg, torch.device("cpu")) is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="float16 loss scaling needs CUDA")
def test_float16_step_on_cuda_scales_inner_and_outer_losses(digits_root, tmp_path):
    t = build_trainer(_cfg(digits_root, "TRAIN.AMP", "True", "TRAIN.AMP_DTYPE", "float16", "OUTPUT_DIR",
                           str(tmp_path)))
    assert t.device.type == "cuda" and t.scaler.is_enabled() and t.adversary.grad_scaler is t.scaler
    for batch in list(iter(t.train_loader))[:3]:
        assert torch.isfinite(t.run_step(batch)["loss"])
    assert t.state_dict()["scaler"]["scale"] > 0
