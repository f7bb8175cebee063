"""StoSignSGD (arXiv 2604.15416, Alg. 3) on every trainable parameter."""

from __future__ import annotations

from torch import nn

from suite.methods import Method, trainable
from suite.optim import StoSignSGD


def build(
    model: nn.Module,
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 1.0),
    weight_decay: float = 0.0,
    seed: int = 0,
    foreach: bool | None = None,
    fused_backward: bool = False,
) -> Method:
    """StoSignSGD on the model's trainable parameters (β2 = 1: pure running max, assumed)."""
    optimizer = StoSignSGD(
        trainable(model),
        lr=lr,
        betas=tuple(betas),
        weight_decay=weight_decay,
        seed=seed,
        foreach=foreach,
        fused_backward=fused_backward,
    )
    return Method(model=model, optimizer=optimizer, updates_in_backward=fused_backward)
