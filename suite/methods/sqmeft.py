"""SQ-MEFT (sign momentum, 4-bit state, in-backward updates) on every trainable parameter."""

from __future__ import annotations

from torch import nn

from suite.methods import Method, trainable
from suite.methods.seeding import method_seed
from suite.optim import SQMEFT


def build(
    model: nn.Module,
    *,
    lr: float,
    beta: float,
    rms_floor: float,
    block_size: int,
    min_quant_numel: int,
    stochastic_rounding: bool,
    seed: int | None,
    sign: bool,
    rms_scaled: bool,
    compile: bool,
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
        seed=method_seed(seed),
        sign=sign,
        rms_scaled=rms_scaled,
        compile=compile,
        fused_backward=True,
    )
    return Method(model=model, optimizer=optimizer, updates_in_backward=True)
