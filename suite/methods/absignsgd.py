"""ABSignSGD (Zhou & Pu, ICLR'26): one block per step, sign update, depth-biased selection."""

from __future__ import annotations

from torch import nn

from suite.methods import Method
from suite.methods.seeding import method_seed
from suite.optim import ABSignSGD


def build(
    model: nn.Module,
    *,
    lr: float,
    depth_bias: float,
    selection_scheme: str,
    fp16: bool,
    weight_decay: float,
    train_embeddings: bool,
    train_head: bool,
    seed: int | None,
    sign: bool,
    fused_backward: bool,
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
        seed=method_seed(seed),
        sign=sign,
        fused_backward=fused_backward,
    )
    return Method(
        model=model,
        optimizer=optimizer,
        updates_in_backward=fused_backward,
        grad_scaler=optimizer.scaler,
    )
