"""Trainers without data, for tests of single steps (importable from every test folder, like
cfg_testutils). A subclass overrides ``DGTrainer``'s construction seam; the rest of the trainer
(device, AMP, compile, scaler, the method's own ``__init__``) is the real one."""
from __future__ import annotations

from typing import Callable

import torch


def without_data(trainer_cls: type, make_model: Callable[[], torch.nn.Module], weight_decay: float = 5e-4) -> type:
    """``trainer_cls`` with no dataset and no hooks, training ``make_model()`` with a plain SGD."""

    class WithoutData(trainer_cls):
        def build_data_loaders(self):
            self.dataset = None
            self.train_loader, self.val_loaders, self.test_loaders = (), {}, {}

        def build_model(self):
            return make_model()

        def build_optimizer(self, model):
            return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=weight_decay)

        def build_hooks(self):
            return []

    WithoutData.__name__ = WithoutData.__qualname__ = f"{trainer_cls.__name__}WithoutData"
    return WithoutData
