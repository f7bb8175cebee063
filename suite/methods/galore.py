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

``build_8bit`` keeps Adam's moments in 8 bits (galore-torch ``GaLoreAdamW8bit``, bitsandbytes'
block-wise 8-bit Adam on the projected gradient; :class:`Bnb8bitGaLore` for its traps).

``build_layerwise`` is the per-layer variant: one ``GaLoreAdamW`` per parameter, stepped in that
parameter's post-accumulate-grad hook, which then frees the gradient
(:class:`~suite.methods.lowrank.Layerwise`).
"""

from __future__ import annotations

import torch
from bitsandbytes.optim.optimizer import Optimizer2State
from galore_torch import GaLoreAdamW, GaLoreAdamW8bit
from torch import nn

from suite.methods import Method
from suite.methods.adamw8bit_bnb import share_code_tables
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


class Bnb8bitGaLore:
    """What an 8-bit GaLore optimizer written against an older bitsandbytes (galore-torch's
    ``galore_torch/adamw8bit.py``; q-galore-torch's ``q_galore_adamw8bit.py``, a copy of it) needs
    to run on current bitsandbytes, on a GPU or a CPU. Mixed in before the package's class.

    * Both pass ``(..., 8, args, min_8bit_size, percentile_clipping, block_wise, is_paged)``
      positionally to bitsandbytes' ``Optimizer2State``, whose current releases take ``(...,
      optim_bits, args, min_8bit_size, max_unorm, skip_zeros, is_paged)``: ``percentile_clipping=100``
      would land in ``max_unorm`` and ``block_wise=True`` in ``skip_zeros``. Here the base is built
      with keywords (no update-norm clipping, zeros not skipped, as in the GaLore paper's Adam).
    * Their ``step`` calls ``torch.cuda.synchronize()`` after every tensor, which raises without
      CUDA; with every parameter on the CPU, whose kernels are synchronous, the call is skipped.
    * Their ``step`` rebinds each projected weight's ``.data`` to a new tensor; the result is copied
      back into the weight's own storage, which the memory meter, DDP's hooks and the lost-update
      guard hold on to, as every other optimizer leaves it.
    * bitsandbytes' ``load_state_dict`` copies the shared 8-bit code tables into every tensor's
      state; they are shared again (:func:`~suite.methods.adamw8bit_bnb.share_code_tables`).
    """

    def __init__(self, params, *, lr, betas, eps, weight_decay, min_8bit_size):
        Optimizer2State.__init__(
            self,
            "adam",
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            optim_bits=8,
            min_8bit_size=min_8bit_size,
        )

    def step(self, closure=None):
        projected = [(p, p.data) for group in self.param_groups if "rank" in group for p in group["params"]]
        on_cpu = not any(p.is_cuda for group in self.param_groups for p in group["params"])
        synchronize = torch.cuda.synchronize
        if on_cpu:
            torch.cuda.synchronize = lambda device=None: None
        try:
            loss = super().step(closure)
        finally:
            torch.cuda.synchronize = synchronize
        for p, own in projected:
            if p.data_ptr() != own.data_ptr():
                own.copy_(p.data)
                p.data = own
        return loss

    def load_state_dict(self, state_dict, move_to_device=True):
        super().load_state_dict(state_dict, move_to_device)
        share_code_tables(self)


class GaLoreAdamW8bitCompat(Bnb8bitGaLore, GaLoreAdamW8bit):
    """galore-torch's ``GaLoreAdamW8bit`` on current bitsandbytes (:class:`Bnb8bitGaLore`)."""


def build_8bit(
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
    min_8bit_size: int,
) -> Method:
    """GaLore with 8-bit Adam state (:class:`GaLoreAdamW8bitCompat`); defaults in
    ``conf/method/galore8bit.yaml``."""
    groups = lowrank_groups(
        model, rank=rank, update_proj_gap=update_proj_gap, scale=scale, proj_type=proj_type
    )
    optimizer = GaLoreAdamW8bitCompat(
        groups, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, min_8bit_size=min_8bit_size
    )
    return Method(
        model=model, optimizer=optimizer, extra_state=[LiveState(lambda: projector_matrices(optimizer))]
    )
