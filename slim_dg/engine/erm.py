"""Empirical risk minimisation over the pooled source domains: the baseline every DG method beats."""
import torch.nn.functional as F

from .build import TRAINER_REGISTRY
from .trainer import DGTrainer


@TRAINER_REGISTRY.register(name="ERM", aliases=("Vanilla",))
class ERM(DGTrainer):
    def compute_losses(self, batch):
        return {"ce": F.cross_entropy(self.model(batch["img"]), batch["label"])}
