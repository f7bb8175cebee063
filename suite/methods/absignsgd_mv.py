"""ABSignSGD-MV: ABSignSGD with a majority vote of the ranks' gradient signs (torch.distributed).

Run under ``torchrun`` without DDP: each rank computes its own block gradient, the optimizer
all-reduces the int8 signs. In a single process it is ABSignSGD.
"""

from __future__ import annotations

from torch import nn

from suite.methods import Method
from suite.methods.seeding import method_seed
from suite.optim import ABSignSGDMV


def build(
    model: nn.Module,
    *,
    lr: float,
    depth_bias: float,
    selection_scheme: str,
    weight_decay: float,
    seed: int | None,
    fused_backward: bool,
) -> Method:
    """ABSignSGD-MV on ``model`` (bf16/fp32 weights; fp16 is refused, see ABSignSGDMV)."""
    optimizer = ABSignSGDMV(
        model,
        lr=lr,
        depth_bias=depth_bias,
        selection_scheme=selection_scheme,
        weight_decay=weight_decay,
        seed=method_seed(seed),
        fused_backward=fused_backward,
    )
    return Method(model=model, optimizer=optimizer, updates_in_backward=fused_backward)
