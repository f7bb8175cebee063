"""Adafactor (``torch.optim.Adafactor``; Shazeer & Stern, arXiv 1804.04235, Alg. 4 and 5) on every
trainable parameter.

The second moment of an m×n matrix is factored into a row and a column vector (fp32-sized like the
parameter: 4·(m + n) bytes for fp32), a vector gets a full one; no first moment. torch's version
always takes the relative step size of the paper's Sec. 8: ρ_t = min(lr, 1/√t), scaled by
max(ε₂, RMS(θ)); β̂₂ₜ = 1 − t^c with c = ``beta2_decay`` (−0.8, Eq. 7), update clipping threshold
``d`` = 1 (Sec. 6). State also holds a 4-byte ``step`` tensor per parameter.
"""

from __future__ import annotations

import torch
from torch import nn

from suite.methods import Method, trainable


def build(
    model: nn.Module,
    *,
    lr: float,
    beta2_decay: float,
    eps1: float | None,
    eps2: float,
    d: float,
    weight_decay: float,
    foreach: bool,
) -> Method:
    """``torch.optim.Adafactor`` on the trainable parameters; defaults in ``conf/method/adafactor.yaml``."""
    optimizer = torch.optim.Adafactor(
        trainable(model),
        lr=lr,
        beta2_decay=beta2_decay,
        eps=(eps1, eps2),
        d=d,
        weight_decay=weight_decay,
        foreach=foreach,
    )
    return Method(model=model, optimizer=optimizer)
