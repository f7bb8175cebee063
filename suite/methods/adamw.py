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
    *,
    lr: float,
    weight_decay: float,
    betas: tuple[float, float],
    eps: float,
    foreach: bool,
) -> Method:
    """``torch.optim.AdamW`` on the trainable parameters; defaults in ``conf/method/adamw.yaml``."""
    optimizer = torch.optim.AdamW(
        trainable(model), lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, foreach=foreach
    )
    return Method(model=model, optimizer=optimizer)
