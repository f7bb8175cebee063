"""SignSGD / Signum (StoSignSGD paper, Alg. 5) on every trainable parameter."""

from __future__ import annotations

from torch import nn

from suite.methods import Method, trainable
from suite.optim import SignSGD


def build(
    model: nn.Module,
    *,
    lr: float,
    momentum: float,
    weight_decay: float,
    foreach: bool | None,
    fused_backward: bool,
) -> Method:
    """SignSGD/Signum on the trainable parameters; defaults in ``conf/method/signsgd.yaml``."""
    optimizer = SignSGD(
        trainable(model),
        lr=lr,
        momentum=momentum,
        weight_decay=weight_decay,
        foreach=foreach,
        fused_backward=fused_backward,
    )
    accumulates = fused_backward and momentum > 0  # into the momentum buffer, micro-batch by micro-batch
    return Method(
        model=model,
        optimizer=optimizer,
        updates_in_backward=fused_backward,
        micro_batch=optimizer.micro_batch if accumulates else None,
    )
