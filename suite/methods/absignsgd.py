"""ABSignSGD (Zhou & Pu, ICLR'26): one block per step, sign update, depth-biased selection."""

from __future__ import annotations

from torch import nn

from suite.methods import Method
from suite.optim import ABSignSGD


def build(
    model: nn.Module,
    lr: float = 1e-4,
    depth_bias: float = 10.0,
    selection_scheme: str = "depth_biased",
    fp16: bool = False,
    weight_decay: float = 0.0,
    train_embeddings: bool = False,
    train_head: bool = False,
    seed: int = 0,
    sign: bool = True,
    fused_backward: bool = False,
) -> Method:
    """ABSignSGD on ``model``; with ``fp16`` the optimizer's GradScaler drives the loop."""
    optimizer = ABSignSGD(
        model,
        lr=lr,
        depth_bias=depth_bias,
        selection_scheme=selection_scheme,
        fp16=fp16,
        weight_decay=weight_decay,
        train_embeddings=train_embeddings,
        train_head=train_head,
        seed=seed,
        sign=sign,
        fused_backward=fused_backward,
    )
    return Method(
        model=model,
        optimizer=optimizer,
        updates_in_backward=fused_backward,
        grad_scaler=optimizer.scaler,
    )
