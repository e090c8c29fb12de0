"""What a CUDA machine would hit, simulated on CPU (issue 22, items 1, 3, 5, 10, 11): checkpoints
loaded for a trainer on another device (``meta`` stands in for ``cuda``: its tensors cannot be
random states either), no host-device synchronisation per training step, batches too small to
train on, the robust validation's BN statistics, and one GPU per process."""
from __future__ import annotations

import os
import sys

import pytest
import torch

from slim_dg.config import ConfigError
from slim_dg.data import build as data_build
from slim_dg.engine import build_trainer
from slim_dg.engine import hooks as hooks_module
from slim_dg.engine import robust as robust_module
from slim_dg.engine.checkpoint import CHECKPOINT_DIR, save_checkpoint
from slim_dg.utils import distributed

from cfg_testutils import digits_cfg

SMALL = ["MODEL.BACKBONE.NAME", "resnet10t", "DATALOADER.TRAIN_X.BATCH_SIZE", "8", "DATALOADER.NUM_WORKERS", "0"]


def _trainer(digits_root, out, config="digits_dg_advstyle_slim.yaml", *opts):
    return build_trainer(digits_cfg(digits_root, config, "OUTPUT_DIR", str(out), *SMALL, *opts))


@pytest.mark.parametrize("which", [None, "model-epoch0-step1.pt"])  # --resume's newest; --eval-only --load-epoch
def test_checkpoint_random_states_load_on_the_cpu_whatever_the_device(digits_root, tmp_path, which):
    """Loaded onto the trainer's device, the RNG states (torch's, SLIM's generator) would be device
    tensors, which ``torch.set_rng_state`` / ``Generator.set_state`` refuse: --resume and
    --eval-only crashed on every GPU."""
    t = _trainer(digits_root, tmp_path / "run")
    t.run_step(next(iter(t.epoch_batches())))
    t.step_in_epoch = t.iter = 1
    save_checkpoint(t.state_dict(), str(tmp_path / "run" / CHECKPOINT_DIR / "model-epoch0-step1.pt"))
    expected = {k: v.clone() for k, v in t.model.state_dict().items()}
    again = _trainer(digits_root, tmp_path / "again")
    again.device = torch.device("meta")  # what the loader would map to, were it the device
    path = again.resume_or_load(str(tmp_path / "run"), which)
    assert os.path.basename(path) == "model-epoch0-step1.pt" and again.iter == 1
    assert all(torch.equal(v, expected[k]) for k, v in again.model.state_dict().items())
    assert torch.equal(again.objective.generator.get_state(), t.objective.generator.get_state())


def _host_reads(monkeypatch) -> list[str]:
    """Records every read of a tensor's value on the host (on a GPU each one waits for the device),
    except SLIM's layer and λ draws: they come from its own CPU generator, on a GPU too."""
    reads: list[str] = []

    def spy(name, real):
        def read(self, *args, **kwargs):
            caller = sys._getframe(1).f_code
            if self.numel() and not (caller.co_name == "draw" and caller.co_filename.endswith("slim.py")):
                reads.append(name)
            return real(self, *args, **kwargs)
        return read

    for name in ("item", "tolist", "__bool__", "__float__", "__int__"):
        monkeypatch.setattr(torch.Tensor, name, spy(name, getattr(torch.Tensor, name)))
    return reads


def test_training_steps_read_nothing_back_until_a_print_step(digits_root, tmp_path, monkeypatch):
    t = _trainer(digits_root, tmp_path, "digits_dg_advstyle_slim.yaml", "TRAIN.PRINT_FREQ", "3")
    batches = [{k: v for k, v in b.items() if k != "skipped"} for b in list(t.epoch_batches())[:3]]
    reads = _host_reads(monkeypatch)
    t.run_step(batches[0])
    t.run_step(batches[1])
    assert reads == []  # no isfinite(loss) check, no scale read: the GPU is never waited for
    t.run_step(batches[2])  # the PRINT_FREQ-th step checks its 3 losses at once
    assert reads == ["tolist"]


def test_non_finite_loss_found_at_the_next_check_names_its_step(digits_root, tmp_path):
    t = _trainer(digits_root, tmp_path, "digits_dg_erm.yaml", "TRAIN.PRINT_FREQ", "50")
    batches = list(t.epoch_batches())[:2]
    t.run_step(batches[0])
    t.iter = 1
    nan_batch = dict(batches[1], img=batches[1]["img"] * float("nan"))
    t.run_step(nan_batch)
    with pytest.raises(FloatingPointError, match="non-finite at iteration 1 "):
        t.state_dict()  # before any checkpoint: a checkpoint never holds those weights


def test_signals_are_polled_every_period_steps_under_ddp(monkeypatch):
    polls = []
    monkeypatch.setattr(hooks_module, "is_distributed", lambda: True)
    monkeypatch.setattr(hooks_module, "any_process", lambda flag, device: polls.append(1) or flag)

    class Trainer:
        iters_per_epoch, device = 100, torch.device("cpu")

    hook = hooks_module.SignalHook(checkpointer=None, period=10)
    hook.trainer = trainer = Trainer()
    for i in range(1, 31):
        trainer.iter = trainer.step_in_epoch = i
        hook.after_step()
    assert len(polls) == 3
    monkeypatch.setattr(hooks_module, "is_distributed", lambda: False)
    hook.after_step()
    assert len(polls) == 4  # in one process the check is free: every step


def test_batches_too_small_for_batch_norm_are_skipped_not_crashed(digits_root, tmp_path):
    t = _trainer(digits_root, tmp_path, "digits_dg_erm.yaml", "DATALOADER.ON_BAD_IMAGE", "skip")
    batch = next(iter(t.epoch_batches()))
    one = {"img": batch["img"][:1], "label": batch["label"][:1], "domain": batch["domain"][:1],
           "skipped": torch.tensor(7)}
    assert t.run_step(one) == {} and t.skipped_images == 7
    assert t.run_step({"skipped": torch.tensor(8)}) == {} and t.skipped_images == 15
    two = {k: v[:2] for k, v in batch.items() if k != "skipped"}
    assert "loss" in t.run_step(two)


def test_robust_validation_attacks_with_rank0_batch_norm_statistics(digits_root, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(robust_module, "broadcast_buffers", lambda model, device: calls.append("broadcast"))
    monkeypatch.setattr(robust_module, "attack_accuracy", lambda *a, **k: calls.append("attack") or
                        {"clean": {"accuracy": 50.0}, "pgd": {"accuracy": 10.0}, "num_samples": 4})
    t = _trainer(digits_root, tmp_path, "digits_dg_erm.yaml", "TRAINER.NAME", "PGDAT", "TEST.ROBUST_VAL_STEPS", "1")
    hook = next(h for h in t.hooks if isinstance(h, robust_module.RobustValHook))
    hook.evaluate(1)
    assert calls[0] == "broadcast" and calls.count("attack") == len(t.val_loaders)


@pytest.mark.parametrize("local_rank,visible,expected", [(0, 1, 0), (1, 2, 1), (1, 1, None), (3, 2, None)])
def test_two_processes_never_share_a_gpu(monkeypatch, local_rank, visible, expected):
    monkeypatch.setenv("LOCAL_RANK", str(local_rank))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: visible)
    if expected is None:
        with pytest.raises(ConfigError, match=f"LOCAL_RANK {local_rank} has no GPU of its own: {visible} visible"):
            distributed.local_cuda_index()
    else:
        assert distributed.local_cuda_index() == expected


@pytest.mark.slow
def test_a_gpu_training_loader_hands_over_uint8_and_the_step_normalises(digits_root, tmp_path, monkeypatch):
    """Item 8: a quarter of the bytes through PCIe; the step's result is the same as with float32 batches."""
    torch.manual_seed(0)
    reference = _trainer(digits_root, tmp_path / "f32", "digits_dg_erm.yaml")
    monkeypatch.setattr(data_build, "normalizes_on_device", lambda cfg: True)
    torch.manual_seed(0)
    uint8 = _trainer(digits_root, tmp_path / "u8", "digits_dg_erm.yaml")
    batch, ref_batch = next(iter(uint8.epoch_batches())), next(iter(reference.epoch_batches()))
    assert batch["img"].dtype == torch.uint8 and ref_batch["img"].dtype == torch.float32
    assert next(iter(next(iter(uint8.test_loaders.values()))))["img"].dtype == torch.float32  # evaluation: as before
    assert torch.equal(uint8.run_step(batch)["loss"], reference.run_step(ref_batch)["loss"])
    assert all(torch.equal(a, b) for a, b in zip(uint8.model.parameters(), reference.model.parameters()))
