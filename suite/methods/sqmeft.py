"""SQ-MEFT (sign momentum, 4-bit state, in-backward updates) on every trainable parameter."""

from __future__ import annotations

from torch import nn

from suite.methods import Method, trainable
from suite.optim import SQMEFT


def build(
    model: nn.Module,
    lr: float = 1e-3,
    beta: float = 0.95,
    rms_floor: float = 1e-3,
    block_size: int = 128,
    min_quant_numel: int = 4096,
    stochastic_rounding: bool = False,
    seed: int = 0,
    sign: bool = True,
    rms_scaled: bool = True,
    compile: bool = False,
) -> Method:
    """SQ-MEFT; the updates run inside backward, so the loop refuses gradient accumulation."""
    optimizer = SQMEFT(
        trainable(model),
        lr=lr,
        beta=beta,
        rms_floor=rms_floor,
        block_size=block_size,
        min_quant_numel=min_quant_numel,
        stochastic_rounding=stochastic_rounding,
        seed=seed,
        sign=sign,
        rms_scaled=rms_scaled,
        compile=compile,
        fused_backward=True,
    )
    return Method(model=model, optimizer=optimizer, updates_in_backward=True)
