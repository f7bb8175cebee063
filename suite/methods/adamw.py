"""AdamW on every trainable parameter: the full-memory baseline (12 B/param fp32 state incl. step).

``torch.optim.AdamW`` with the multi-tensor (``foreach``) path; state is ``exp_avg`` and
``exp_avg_sq`` in the parameter dtype (8 B/param for fp32 weights) plus a scalar ``step``.
"""

from __future__ import annotations

import torch
from torch import nn

from suite.methods import Method, trainable


def build(
    model: nn.Module,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    foreach: bool = True,
) -> Method:
    optimizer = torch.optim.AdamW(
        trainable(model), lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, foreach=foreach
    )
    return Method(model=model, optimizer=optimizer)
