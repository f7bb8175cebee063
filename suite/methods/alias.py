"""ALIAS (parameter-free Sign-SGD, arXiv 2506.03725) on every trainable parameter.

No learning rate to tune: γ is set by the optimizer (``uses_lr_schedule=False``). For the
lower-bound rule the first loss is handed to the optimizer as f(x_0) by ``backward``.
"""

from __future__ import annotations

import torch
from torch import nn

from suite.methods import Method, trainable
from suite.optim import ALIAS


def build(
    model: nn.Module,
    *,
    L_inf: float,  # noqa: N803 (the reference's name)
    lower_bound: float | None,
    d_0: float | None,
    clamp_level: float | None,
    update_gap: int,
    weight_decay: float,
    momentum: float,
    warmup_lr: float | None,
    warmup_steps: int,
    sign_only_memory: bool,
) -> Method:
    """ALIAS on the model's trainable parameters; ``warmup_lr`` is the step during warmup."""
    optimizer = ALIAS(
        trainable(model),
        L_inf=L_inf,
        lower_bound=lower_bound,
        d_0=d_0,
        weight_decay=weight_decay,
        clamp_level=clamp_level,
        update_gap=update_gap,
        momentum=momentum,
        lr=warmup_lr,
        warmup_steps=warmup_steps,
        sign_only_memory=sign_only_memory,
    )

    def backward(loss: torch.Tensor) -> None:
        optimizer.set_initial_loss(loss.detach())
        loss.backward()

    return Method(model=model, optimizer=optimizer, backward=backward, uses_lr_schedule=False)
