"""AdamW on every trainable parameter: the full-memory baseline (12 B/param fp32 state incl. step).

``torch.optim.AdamW`` with the multi-tensor (``foreach``) path; state is ``exp_avg`` and
``exp_avg_sq`` in the parameter dtype (8 B/param for fp32 weights) plus a scalar ``step``.
``master_weights=True`` on bf16 weights: mixed precision with fp32 masters counted as state
(``suite.methods.master``; 12 B/param, the SQ-MEFT paper's Table I).
"""

from __future__ import annotations

import torch
from torch import nn

from suite.methods import Method, trainable
from suite.methods.master import masters_of, maybe_master


def build(
    model: nn.Module,
    *,
    lr: float,
    weight_decay: float,
    betas: tuple[float, float],
    eps: float,
    foreach: bool,
    master_weights: bool,
) -> Method:
    """``torch.optim.AdamW`` on the trainable parameters; defaults in ``conf/method/adamw.yaml``."""
    optimizer = maybe_master(
        trainable(model),
        master_weights,
        lambda ps: torch.optim.AdamW(
            ps, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, foreach=foreach
        ),
    )
    return Method(model=model, optimizer=optimizer, updated_tensors=masters_of(optimizer))
