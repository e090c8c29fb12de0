"""SLIM, the Stochastic Loss Integration Method (DESIGN §1).

Inside the inner maximisation, the output loss gets a randomly weighted intermediate-layer term
at a randomly chosen tap:

    J_SLIM = J(f(x̃), y) + λ · L_ILL(h_l(x̃), h_l(x)),   l ~ U(layers),  λ ~ U(λ_min, λ_max)

re-drawn every adversarial step (``sample_per="step"``) or once per batch (``"batch"``).
The draws come from SLIM's own generator, so the wrapped method's random stream (random starts,
dropout) is the same with and without SLIM: with λ ≡ 0 both produce identical samples.

``balance="grad_norm"`` (``SLIM.BALANCE``) rescales L_ILL per sample so that its gradient w.r.t. the
adversary's parameters has the norm of J's, before λ is applied: λ is then the fraction of the output
loss's push. It costs a second backward through the adversary's parameters (none when λ = 0).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from .objectives import GradientsOf, Objective, OutputLoss

ILL_LOSSES = ("cosine", "orthogonal", "reverse")
BALANCES = ("none", "grad_norm")


def check_loss_and_range(loss: str, lambda_min: float, lambda_max: float) -> None:
    """``reverse`` (+cos) with weight λ is ``cosine`` (-cos) with weight -λ, so over a λ range symmetric
    around 0 the two draw the same objectives: refuse an ablation that would be one experiment twice."""
    if loss == "reverse" and lambda_min == -lambda_max != 0:
        raise ValueError(
            f"SLIM.LOSS reverse with λ ~ U({lambda_min:g}, {lambda_max:g}) draws the same objectives as cosine "
            "(+cos weighted λ is -cos weighted -λ, and the range is symmetric around 0). Set a one-sided range, "
            f"e.g. SLIM.LAMBDA_MIN 0: reverse on [0, {lambda_max:g}] pulls every tap back to the clean features.")


def intermediate_loss(h_adv: torch.Tensor, h_clean: torch.Tensor, kind: str) -> torch.Tensor:
    """Batch mean of the per-sample L_ILL on flattened features. Every form has zero gradient at
    ``h_adv == h_clean`` (the cosine is maximal there), hence the need for a random start."""
    cos = F.cosine_similarity(flat_view(h_adv), flat_view(h_clean), dim=1)
    if kind == "cosine":
        return -cos.mean()  # λ > 0 pushes the tap's features away from the clean ones
    if kind == "orthogonal":
        return -cos.abs().mean()  # λ > 0 pushes them towards orthogonal
    if kind == "reverse":
        return cos.mean()  # λ > 0 pulls them back to the clean ones (relaxes that depth)
    raise ValueError(f"Unknown SLIM.LOSS '{kind}'. Available: {', '.join(ILL_LOSSES)}")


def flat_view(h: torch.Tensor) -> torch.Tensor:
    """``h.flatten(1)`` in memory order: a view, without the copy ``flatten`` makes of channels-last maps
    (the CPU's early stages, ``modeling.cpu_layout``). The cosine does not depend on the order of the
    elements, and through a copy the gradient would reach the network in another layout than its own:
    summed there with the output loss's, a zero gradient (λ = 0) would then change how later reductions
    are ordered, and λ = 0 would no longer be the plain step bit for bit."""
    if h.dim() == 4 and not h.is_contiguous() and h.is_contiguous(memory_format=torch.channels_last):
        return h.permute(0, 2, 3, 1).flatten(1)
    return h.flatten(1)


def per_sample_norm(grads: Sequence[torch.Tensor]) -> torch.Tensor:
    """The norm of each sample's gradient over all of the adversary's (per-sample) parameters."""
    return torch.cat([g.flatten(1) for g in grads], dim=1).norm(dim=1)


def balanced_sum(g_out: Sequence[torch.Tensor], g_ill: Sequence[torch.Tensor], lam: float) -> list[torch.Tensor]:
    """``g_out + λ · s · g_ill`` with ``s = ‖g_out‖ / ‖g_ill‖`` per sample (0 where ``g_ill`` is 0,
    e.g. at the clean point, where L_ILL has no direction to give)."""
    n_out, n_ill = per_sample_norm(g_out), per_sample_norm(g_ill)
    s = torch.where(n_ill > 0, n_out / n_ill.clamp_min(torch.finfo(n_ill.dtype).tiny), torch.zeros_like(n_ill))
    return [go + (lam * s).view(-1, *[1] * (go.dim() - 1)).to(go.dtype) * gi for go, gi in zip(g_out, g_ill)]


class SLIM(Objective):
    """Wraps the method's own objective ``base`` (default: the output CE) and adds the stochastic term."""

    def __init__(self, layers: Sequence[int], loss: str = "cosine", lambda_min: float = -1.0,
                 lambda_max: float = 1.0, sample_per: str = "step", seed: int = 0, base: Objective | None = None,
                 balance: str = "none"):
        if not layers:
            raise ValueError("SLIM needs at least one candidate layer")
        if loss not in ILL_LOSSES:
            raise ValueError(f"Unknown SLIM.LOSS '{loss}'. Available: {', '.join(ILL_LOSSES)}")
        if lambda_min > lambda_max:
            raise ValueError(f"SLIM.LAMBDA_MIN {lambda_min} > SLIM.LAMBDA_MAX {lambda_max}")
        check_loss_and_range(loss, lambda_min, lambda_max)
        if sample_per not in ("step", "batch"):
            raise ValueError(f"SLIM.SAMPLE_PER must be 'step' or 'batch', got '{sample_per}'")
        if balance not in BALANCES:
            raise ValueError(f"Unknown SLIM.BALANCE '{balance}'. Available: {', '.join(BALANCES)}")
        self.layers = sorted(set(layers))
        self.loss = loss
        self.lambda_min, self.lambda_max = lambda_min, lambda_max
        self.sample_per = sample_per
        self.balance = balance
        self.base = base or OutputLoss()
        self.generator = torch.Generator().manual_seed(seed)
        self.layer, self.lam = self.layers[0], 0.0

    @classmethod
    def from_config(cls, cfg, backbone, base: Objective | None = None) -> "SLIM":
        """``base``: the wrapped method's own objective (default: the output CE)."""
        spec = cfg.SLIM.LAYERS or list(range(backbone.num_taps))
        return cls([backbone.tap_index(s) for s in spec], cfg.SLIM.LOSS, cfg.SLIM.LAMBDA_MIN,
                   cfg.SLIM.LAMBDA_MAX, cfg.SLIM.SAMPLE_PER, seed=cfg.SEED, base=base, balance=cfg.SLIM.BALANCE)

    @property
    def clean_taps(self) -> list[int]:
        return sorted(set(self.layers) | set(self.base.clean_taps))

    def draw(self) -> tuple[int, float]:
        """A new (layer, λ); CPU draws, so they cost no device synchronisation."""
        i = int(torch.randint(len(self.layers), (1,), generator=self.generator))
        u = float(torch.rand((), generator=self.generator))
        self.layer, self.lam = self.layers[i], self.lambda_min + u * (self.lambda_max - self.lambda_min)
        return self.layer, self.lam

    def start_batch(self) -> None:
        self.base.start_batch()
        if self.sample_per == "batch":
            self.draw()

    def begin_step(self) -> list[int]:
        base_taps = self.base.begin_step() or []
        if self.sample_per == "step":
            self.draw()
        return sorted({self.layer, *base_taps})

    def terms(self, logits, target, adv_taps=None, clean_taps=None) -> tuple[torch.Tensor, torch.Tensor]:
        """The base objective J and the intermediate-layer term L_ILL at the drawn tap (before λ)."""
        j = self.base(logits, target, adv_taps, clean_taps)
        if adv_taps is None or clean_taps is None or self.layer not in adv_taps or self.layer not in clean_taps:
            raise ValueError(f"SLIM needs tap {self.layer} of both the adversarial and the clean pass")
        return j, intermediate_loss(adv_taps[self.layer], clean_taps[self.layer], self.loss)

    def __call__(self, logits, target, adv_taps=None, clean_taps=None) -> torch.Tensor:
        j, ill = self.terms(logits, target, adv_taps, clean_taps)
        return j + self.lam * ill

    def ascent_gradients(self, gradients_of: GradientsOf, logits, target, adv_taps=None,
                         clean_taps=None) -> list[torch.Tensor]:
        if self.balance == "none" or self.lam == 0:  # λ = 0: the plain gradients, no second backward
            return super().ascent_gradients(gradients_of, logits, target, adv_taps, clean_taps)
        g_out, g_ill = gradients_of(self.terms(logits, target, adv_taps, clean_taps))
        return balanced_sum(g_out, g_ill, self.lam)

    def state_dict(self) -> dict:
        base = self.base.state_dict()
        return {"generator": self.generator.get_state(), **({"base": base} if base else {})}

    def load_state_dict(self, state: dict) -> None:
        if "generator" in state:
            self.generator.set_state(state["generator"])
        self.base.load_state_dict(state.get("base", {}))
