"""APOLLO and APOLLO-Mini (apollo-torch ``APOLLOAdamW``, ALGORITHMS.md §7).

The attn/mlp Linear weights get a rank-r *random* projection R of their gradient (regenerated
from a per-parameter seed every ``update_proj_gap`` steps; no SVD); Adam on R gives a per-channel
(or per-tensor) scaling factor s = ‖Ñ‖/‖R‖ that multiplies the raw gradient, followed by the Fira
norm-growth limiter. Every other trainable parameter gets plain AdamW (same class, no ``rank``).
State per m×n matrix: 2·m·r + r·n (the projector r×n is stored); APOLLO-Mini (rank 1, tensor
scaling) 2·m + n. Plus one scalar ``scaled_grad`` norm per matrix for the limiter.

Trap: the update is multiplied by √scale, not scale (``np.sqrt(group["scale"])``), so APOLLO-Mini's
scale 128 is a factor of ≈11.3. The class is ``APOLLOAdamW``; the package README's ``APOLLO`` does
not exist. Package defaults kept: eps 1e-6.
"""

from __future__ import annotations

from apollo_torch import APOLLOAdamW
from torch import nn

from suite.methods import Method
from suite.methods.galore import LiveState, lowrank_groups, projector_matrices

SCALE_TYPES = ("channel", "tensor")
PROJECTIONS = ("random", "svd")


def build(
    model: nn.Module,
    lr: float = 1e-3,
    rank: int = 256,
    proj: str = "random",
    scale_type: str = "channel",
    scale: float = 1.0,
    update_proj_gap: int = 200,
    proj_type: str = "std",
    scale_front: bool = False,
    disable_nl: bool = False,
    weight_decay: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-6,
) -> Method:
    if scale_type not in SCALE_TYPES:
        raise ValueError(f"apollo scale_type={scale_type!r}; allowed: {', '.join(SCALE_TYPES)}")
    if proj not in PROJECTIONS:
        raise ValueError(f"apollo proj={proj!r}; allowed: {', '.join(PROJECTIONS)}")
    groups = lowrank_groups(
        model,
        rank=rank,
        proj=proj,
        scale_type=scale_type,
        scale=scale,
        update_proj_gap=update_proj_gap,
        proj_type=proj_type,
    )
    optimizer = APOLLOAdamW(
        groups,
        lr=lr,
        betas=tuple(betas),
        eps=eps,
        weight_decay=weight_decay,
        scale_front=scale_front,
        disable_nl=disable_nl,
    )
    return Method(
        model=model, optimizer=optimizer, extra_state=[LiveState(lambda: projector_matrices(optimizer))]
    )
