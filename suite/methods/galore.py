"""GaLore (galore-torch ``GaLoreAdamW``): Adam on a rank-r SVD projection of each attn/mlp
Linear weight's gradient, full AdamW on every other trainable parameter (jiaweizzhao/GaLore
``galore_torch/adamw.py`` and ``galore_torch/galore_projector.py``).

For an m×n weight, 'std' projection keeps P = Vh[:r] (r×n) and Adam on R = G·Pᵀ (m×r) when
m ≥ n, else P = U[:, :r] (m×r) and R = Pᵀ·G (r×n): state 2·m·r + r·n (or 2·r·n + m·r) instead of
Adam's 2·m·n. P is recomputed by SVD every ``update_proj_gap`` steps; the moments are not reset.
Package defaults kept: eps 1e-6 (not torch's 1e-8); weight decay applied after the update.

Traps in the package, measured here with fp32 weights:

* the projector lives in ``state["projector"]`` as a plain Python object, which a walk of
  ``optimizer.state`` does not enter; :class:`~suite.methods.lowrank.LiveState` hands its
  matrices to the memory meter;
* with fp32 weights ``P`` is a slice (a view) of the SVD factor, so the whole min(m,n)×n ``Vh``
  (or m×min(m,n) ``U``) stays alive: the projector's real storage is that, not r×n. With bf16
  weights the package casts ``P`` and only r×n is kept.

``build_layerwise`` is the per-layer variant: one ``GaLoreAdamW`` per parameter, stepped in that
parameter's post-accumulate-grad hook, which then frees the gradient
(:class:`~suite.methods.lowrank.Layerwise`).
"""

from __future__ import annotations

import torch
from galore_torch import GaLoreAdamW
from torch import nn

from suite.methods import Method
from suite.methods.lowrank import Layerwise, LiveState, lowrank_groups, projector_matrices


def build(
    model: nn.Module,
    *,
    lr: float,
    rank: int,
    update_proj_gap: int,
    scale: float,
    proj_type: str,
    weight_decay: float,
    betas: tuple[float, float],
    eps: float,
) -> Method:
    """``GaLoreAdamW`` on ``model``; defaults in ``conf/method/galore.yaml``."""
    groups = lowrank_groups(
        model, rank=rank, update_proj_gap=update_proj_gap, scale=scale, proj_type=proj_type
    )
    optimizer = GaLoreAdamW(
        groups, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, no_deprecation_warning=True
    )
    return Method(
        model=model, optimizer=optimizer, extra_state=[LiveState(lambda: projector_matrices(optimizer))]
    )


def build_layerwise(
    model: nn.Module,
    *,
    lr: float,
    rank: int,
    update_proj_gap: int,
    scale: float,
    proj_type: str,
    weight_decay: float,
    betas: tuple[float, float],
    eps: float,
) -> Method:
    """Per-layer GaLore (:class:`Layerwise`); defaults in ``conf/method/galore_layerwise.yaml``."""
    groups = lowrank_groups(
        model, rank=rank, update_proj_gap=update_proj_gap, scale=scale, proj_type=proj_type
    )

    def make(sub_groups: list[dict]) -> torch.optim.Optimizer:
        return GaLoreAdamW(
            sub_groups,
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            no_deprecation_warning=True,
        )

    optimizer = Layerwise(groups, make, lr=lr)
    return Method(
        model=model,
        optimizer=optimizer,
        updates_in_backward=True,
        extra_state=[LiveState(lambda: projector_matrices(optimizer))],
    )
