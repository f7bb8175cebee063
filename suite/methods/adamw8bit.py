"""8-bit AdamW (torchao ``AdamW8bit``; pytorch/ao ``torchao/optim/adam.py``) on every trainable
parameter: both moments stored block-wise quantized (Dettmers et al., "8-bit Optimizers via
Block-wise Quantization", arXiv 2110.02861, Sec. 2): uint8 codes through a dynamic-tree lookup
table (``qmap``, 256 fp32 values per state tensor) with one fp32 absmax ``scale`` per block of
``block_size`` values, ≈ 2·(1 + 4/256) B/param. As bitsandbytes, a tensor is quantized only when
it has ≥ 4096 values divisible by the block size; smaller ones keep fp32 moments. ``step`` is a
4-byte tensor per parameter. The memory meter counts the subclass by its real storages (codes,
scale, qmap).

The package runs its per-parameter update through ``torch.compile`` (minutes of compilation on a
small CPU, once per shape); ``compile: false`` runs the same function eagerly
(``torch.compiler.set_stance("force_eager")``), identical in value up to the compiler's fusion.
"""

from __future__ import annotations

import torch
from torch import nn
from torchao.optim import AdamW8bit

from suite.methods import Method, trainable


class EagerAdamW8bit(AdamW8bit):
    """torchao's ``AdamW8bit`` with its compiled update run eagerly."""

    def step(self, closure=None):
        with torch.compiler.set_stance("force_eager"):
            return super().step(closure)


def build(
    model: nn.Module,
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    block_size: int,
    bf16_stochastic_round: bool,
    compile: bool,
) -> Method:
    """torchao ``AdamW8bit`` on the trainable parameters; defaults in ``conf/method/adamw8bit.yaml``."""
    cls = AdamW8bit if compile else EagerAdamW8bit
    optimizer = cls(
        trainable(model),
        lr=lr,
        betas=tuple(betas),
        eps=eps,
        weight_decay=weight_decay,
        block_size=block_size,
        bf16_stochastic_round=bf16_stochastic_round,
    )
    return Method(model=model, optimizer=optimizer)
