"""APOLLO and APOLLO-Mini (apollo-torch ``APOLLOAdamW``, zhuhanqing/APOLLO ``apollo_torch/apollo.py``).

The attn/mlp Linear weights get a rank-r *random* projection R of their gradient (regenerated
from a per-parameter seed every ``update_proj_gap`` steps; no SVD); Adam on R gives a per-channel
(or per-tensor) scaling factor s = ‖Ñ‖/‖R‖ that multiplies the raw gradient, followed by the Fira
norm-growth limiter. Every other trainable parameter gets plain AdamW (same class, no ``rank``).
State per m×n matrix: 2·m·r + r·n (the projector r×n is stored); APOLLO-Mini (rank 1, tensor
scaling) 2·m + n. Plus one scalar ``scaled_grad`` norm per matrix for the limiter.

Trap: the update is multiplied by √scale, not scale (``np.sqrt(group["scale"])``), so APOLLO-Mini's
scale 128 is a factor of ≈11.3. The class is ``APOLLOAdamW``; the package README's ``APOLLO`` does
not exist. Package defaults kept: eps 1e-6.

Seeds: the package seeds parameter k's projection with k (1, 2, ...), the same in every run; here
with ``k + seed·n`` (n parameters, ``seed`` the run's unless given), so seed 0 is the package's
own draw and a sweep over seeds draws different projections.

``build_layerwise`` is the per-layer variant LLaMA-Factory runs with ``apollo_layerwise: true``
(``_create_apollo_optimizer`` in ``src/llamafactory/train/trainer_utils.py``): one ``APOLLOAdamW``
per parameter, stepped in its post-accumulate-grad hook, which then frees the gradient
(:class:`suite.methods.lowrank.Layerwise`). Each sub-optimizer numbers its one parameter 1, so, as
there, every matrix draws its projection from seed 1 (here ``1 + seed``).
"""

from __future__ import annotations

import torch
from apollo_torch import APOLLOAdamW
from torch import nn

from suite.methods import Method
from suite.methods.lowrank import Layerwise, LiveState, lowrank_groups, projector_matrices
from suite.methods.seeding import method_seed

SCALE_TYPES = ("channel", "tensor")
PROJECTIONS = ("random", "svd")


def build(
    model: nn.Module,
    *,
    lr: float,
    rank: int,
    proj: str,
    scale_type: str,
    scale: float,
    update_proj_gap: int,
    proj_type: str,
    scale_front: bool,
    disable_nl: bool,
    weight_decay: float,
    betas: tuple[float, float],
    eps: float,
    seed: int | None,
) -> Method:
    """APOLLO (or APOLLO-Mini) on ``model``; defaults in ``conf/method/apollo{,_mini}.yaml``."""
    groups = apollo_groups(
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
    offset_projection_seeds(optimizer, method_seed(seed))
    return Method(
        model=model, optimizer=optimizer, extra_state=[LiveState(lambda: projector_matrices(optimizer))]
    )


def apollo_groups(model: nn.Module, *, scale_type: str, proj: str, **keys) -> list[dict]:
    """:func:`lowrank_groups` with APOLLO's keys, after checking the two that take a name."""
    if scale_type not in SCALE_TYPES:
        raise ValueError(f"apollo scale_type={scale_type!r}; allowed: {', '.join(SCALE_TYPES)}")
    if proj not in PROJECTIONS:
        raise ValueError(f"apollo proj={proj!r}; allowed: {', '.join(PROJECTIONS)}")
    return lowrank_groups(model, scale_type=scale_type, proj=proj, **keys)


def build_layerwise(
    model: nn.Module,
    *,
    lr: float,
    rank: int,
    proj: str,
    scale_type: str,
    scale: float,
    update_proj_gap: int,
    proj_type: str,
    scale_front: bool,
    disable_nl: bool,
    weight_decay: float,
    betas: tuple[float, float],
    eps: float,
    seed: int | None,
) -> Method:
    """Per-layer APOLLO (LLaMA-Factory's ``apollo_layerwise``); defaults in
    ``conf/method/apollo_layerwise.yaml``. No gradient accumulation, no DDP (as GaLore's)."""
    groups = apollo_groups(
        model,
        rank=rank,
        proj=proj,
        scale_type=scale_type,
        scale=scale,
        update_proj_gap=update_proj_gap,
        proj_type=proj_type,
    )
    offset = method_seed(seed)

    def make(sub_groups: list[dict]) -> torch.optim.Optimizer:
        sub = APOLLOAdamW(
            sub_groups,
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            scale_front=scale_front,
            disable_nl=disable_nl,
        )
        offset_projection_seeds(sub, offset)
        return sub

    optimizer = Layerwise(groups, make, lr=lr)
    return Method(
        model=model,
        optimizer=optimizer,
        updates_in_backward=True,
        extra_state=[LiveState(lambda: projector_matrices(optimizer))],
    )


def offset_projection_seeds(optimizer: APOLLOAdamW, seed: int) -> None:
    """Parameter k's projection seed k becomes ``k + seed·n`` (n: the parameters it numbered)."""
    states = [optimizer.state[p] for g in optimizer.param_groups for p in g["params"]]
    for state in states:
        if "seed" in state:
            state["seed"] += seed * len(states)
