"""Evaluation on the CPU runs a channels-last copy of the model (faster oneDNN convolutions): the
accuracies are those of the model as it is, and the training model keeps its layout."""
import pytest
import torch

from slim_dg.engine import build_trainer
from slim_dg.evaluation import evaluate_domains

from cfg_testutils import digits_cfg


def _conv_weights(model):
    return [p for p in model.parameters() if p.dim() == 4]


@pytest.mark.slow  # builds a trainer and evaluates digits_dg three times (about 10 s)
def test_cpu_evaluation_uses_a_channels_last_copy_with_the_same_accuracies(digits_root, tmp_path):
    cfg = digits_cfg(digits_root, "digits_dg_erm.yaml", "OUTPUT_DIR", str(tmp_path), "USE_CUDA", "False",
                     "DATALOADER.TEST.BATCH_SIZE", "64")
    trainer = build_trainer(cfg)
    model = trainer.model
    with torch.no_grad():  # a model that is not at its initialisation, with BN statistics of its own
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.train()
    model(torch.randn(16, 3, 32, 32))

    copy, fmt = trainer.evaluation_layout(model)
    assert copy is not model and fmt == torch.channels_last
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in _conv_weights(copy))

    got = trainer.evaluate()
    assert all(w.is_contiguous() for w in _conv_weights(model))  # the training model is untouched
    assert model.training
    want = {"target": evaluate_domains(model, trainer.test_loaders, trainer.device),
            "source_val": evaluate_domains(model, trainer.val_loaders, trainer.device)}
    assert got == want
