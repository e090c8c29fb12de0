"""Evaluation on the CPU runs a channels-last copy of the model (faster oneDNN convolutions): the
accuracies are those of the model as it is, and the training model keeps its layout. The copy is
made once and overwritten in place at each evaluation."""
import pytest
import torch

from slim_dg.engine import build_trainer
from slim_dg.evaluation import evaluate_domains

from cfg_testutils import digits_cfg


def _conv_weights(model):
    return [p for p in model.parameters() if p.dim() == 4]


def _move_away(model):
    """New weights and new BN statistics, as training steps would give."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.train()
    model(torch.randn(16, 3, 32, 32))


def _same_logits(a, b):
    x = torch.randn(8, 3, 32, 32)
    a.eval(), b.eval()
    with torch.no_grad():
        same = torch.allclose(a(x), b(x), atol=1e-5, rtol=1e-4)
    a.train()
    return same


@pytest.mark.slow  # builds a trainer and evaluates digits_dg three times (about 10 s)
def test_cpu_evaluation_uses_a_channels_last_copy_with_the_same_accuracies(digits_root, tmp_path):
    cfg = digits_cfg(digits_root, "digits_dg_erm.yaml", "OUTPUT_DIR", str(tmp_path), "USE_CUDA", "False",
                     "DATALOADER.TEST.BATCH_SIZE", "64")
    trainer = build_trainer(cfg)
    model = trainer.model
    _move_away(model)  # a model that is not at its initialisation, with BN statistics of its own

    copy, fmt = trainer.evaluation_layout(model)
    assert copy is not model and fmt == torch.channels_last
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in _conv_weights(copy))

    got = trainer.evaluate()
    assert all(w.is_contiguous() for w in _conv_weights(model))  # the training model is untouched
    assert model.training
    want = {"target": evaluate_domains(model, trainer.test_loaders, trainer.device),
            "source_val": evaluate_domains(model, trainer.val_loaders, trainer.device)}
    assert got == want


@pytest.mark.slow  # builds a trainer (about 5 s)
def test_the_copy_is_kept_and_follows_the_training_model(digits_root, tmp_path):
    cfg = digits_cfg(digits_root, "digits_dg_erm.yaml", "OUTPUT_DIR", str(tmp_path), "USE_CUDA", "False")
    trainer = build_trainer(cfg)
    model = trainer.model
    first, _ = trainer.evaluation_layout(model)
    assert all(p.grad is None for p in first.parameters())
    _move_away(model)
    assert not _same_logits(model, first)  # the copy is not the model: it must be brought up to date

    again, fmt = trainer.evaluation_layout(model)
    assert again is first and fmt == torch.channels_last  # the same copy, overwritten in place
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in _conv_weights(again))
    assert _same_logits(model, again)
    for (n, a), (_, b) in zip(model.named_buffers(), again.named_buffers()):
        assert torch.equal(a, b), n  # running statistics and num_batches_tracked included

    model.head = torch.nn.Linear(model.head.in_features, 3)  # a method replaced a module: a new copy
    replaced, _ = trainer.evaluation_layout(model)
    assert replaced is not first and replaced.head.out_features == 3
