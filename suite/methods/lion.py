"""Lion (lion-pytorch ``Lion``; Chen et al., "Symbolic Discovery of Optimization Algorithms",
arXiv 2302.06675, Program 1) on every trainable parameter.

θ ← θ(1 − lr·λ) − lr·sign(β₁m + (1 − β₁)g), then m ← β₂m + (1 − β₂)g: one momentum buffer in the
parameter dtype (4 B/param for fp32 weights), no step counter.
"""

from __future__ import annotations

from lion_pytorch import Lion
from torch import nn

from suite.methods import Method, trainable


def build(model: nn.Module, *, lr: float, betas: tuple[float, float], weight_decay: float) -> Method:
    """``Lion`` on the trainable parameters; defaults in ``conf/method/lion.yaml``."""
    optimizer = Lion(trainable(model), lr=lr, betas=tuple(betas), weight_decay=weight_decay)
    return Method(model=model, optimizer=optimizer)
