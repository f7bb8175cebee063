"""SGD and SGD with momentum (``torch.optim.SGD``, foreach) on every trainable parameter.

The SQ-MEFT paper's Table IV baselines: SGD keeps no state (``momentum_buffer`` is None when
``momentum`` is 0), SGDM one buffer in the parameter dtype (4 B/param for fp32 weights).
``master_weights=True`` on bf16 weights: fp32 masters counted as state, as Table I counts them
(``suite.methods.master``: SGD 4 B/param, SGDM 8 B/param).
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
    momentum: float,
    dampening: float,
    nesterov: bool,
    weight_decay: float,
    foreach: bool,
    master_weights: bool,
) -> Method:
    """``torch.optim.SGD`` on the trainable parameters; defaults in ``conf/method/sgd.yaml``."""
    optimizer = maybe_master(
        trainable(model),
        master_weights,
        lambda ps: torch.optim.SGD(
            ps,
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            nesterov=nesterov,
            weight_decay=weight_decay,
            foreach=foreach,
        ),
    )
    return Method(model=model, optimizer=optimizer, updated_tensors=masters_of(optimizer))
