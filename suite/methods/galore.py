"""GaLore (galore-torch ``GaLoreAdamW``): Adam on a rank-r SVD projection of each attn/mlp
Linear weight's gradient, full AdamW on every other trainable parameter (jiaweizzhao/GaLore
``galore_torch/adamw.py`` and ``galore_torch/galore_projector.py``).

For an m×n weight, 'std' projection keeps P = Vh[:r] (r×n) and Adam on R = G·Pᵀ (m×r) when
m ≥ n, else P = U[:, :r] (m×r) and R = Pᵀ·G (r×n): state 2·m·r + r·n (or 2·r·n + m·r) instead of
Adam's 2·m·n. P is recomputed by SVD every ``update_proj_gap`` steps; the moments are not reset.
Package defaults kept: eps 1e-6 (not torch's 1e-8); weight decay applied after the update.

Traps in the package, measured here with fp32 weights:

* the projector lives in ``state["projector"]`` as a plain Python object, which a walk of
  ``optimizer.state`` does not enter; :class:`LiveState` hands its matrices to the memory meter;
* with fp32 weights ``P`` is a slice (a view) of the SVD factor, so the whole min(m,n)×n ``Vh``
  (or m×min(m,n) ``U``) stays alive: the projector's real storage is that, not r×n. With bf16
  weights the package casts ``P`` and only r×n is kept.

``build_layerwise`` is the per-layer variant: one ``GaLoreAdamW`` per parameter, stepped in that
parameter's post-accumulate-grad hook, which then frees the gradient (see :class:`Layerwise`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from galore_torch import GaLoreAdamW
from torch import nn

from suite.methods import Method
from suite.models import attn_mlp_linear_names


class LiveState(dict):
    """An ``extra_state`` entry whose tensors are read afresh every time the meter walks it.

    Packages keep state the meter cannot see (projector objects) or replace their state dicts
    (BAdam at each block switch); a plain list captured at build time would go stale. The meter
    walks dicts through ``values()``, which here calls ``read``.
    """

    def __init__(self, read: Callable[[], list]):
        super().__init__()
        self._read = read

    def values(self):
        return self._read()


def projector_matrices(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    """The projection matrices held by the GaLore/APOLLO projectors in ``optimizer.state``."""
    found = []
    for state in optimizer.state.values():
        proj = state.get("projector")
        if proj is not None and proj.ortho_matrix is not None:
            m = proj.ortho_matrix
            found.extend(m if isinstance(m, list) else [m])
    return found


def lowrank_groups(model: nn.Module, **group_keys) -> list[dict]:
    """Two param groups: every other trainable parameter, then the attn/mlp Linear weights
    with the projection keys (``rank``, ``update_proj_gap``, ``scale``, ``proj_type``, ...)."""
    targets = {f"{name}.weight" for name in attn_mlp_linear_names(model)}
    lowrank, regular = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (lowrank if name in targets else regular).append(p)
    if not lowrank:
        raise ValueError(
            f"{type(model).__name__} has no trainable Linear weight inside a module "
            f"named *attn* or *mlp*; GaLore/APOLLO have nothing to project"
        )
    return [{"params": regular}, {"params": lowrank, **group_keys}]


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


class Layerwise(torch.optim.Optimizer):
    """One sub-optimizer per parameter, stepped inside backward; a real Optimizer outside.

    * ``param_groups``: a single group holding every parameter, whose ``lr`` an LR scheduler
      drives; each hook copies it into the sub-optimizer before stepping, so all parameters
      follow the schedule (sub-optimizers' own group keys, e.g. GaLore's rank, stay theirs).
    * ``state[p]`` *is* the sub-optimizer's ``state[p]`` (the same dict object; the packages
      mutate it in place), so the memory meter and ``state_dict()`` see every moment tensor.
    * the hook is ``register_post_accumulate_grad_hook``: it fires once the gradient of ``p`` is
      complete, steps, and sets ``p.grad = None``, so at most one full gradient is alive.
    * ``step()`` does nothing (the work happened in backward); no gradient accumulation, no DDP.
    """

    def __init__(
        self, groups: Iterable[dict], make: Callable[[list[dict]], torch.optim.Optimizer], lr: float
    ):
        groups = list(groups)
        params = [p for g in groups for p in g["params"]]
        super().__init__([{"params": params}], {"lr": lr})
        self.sub: dict[nn.Parameter, torch.optim.Optimizer] = {}
        self._handles = []
        for group in groups:
            keys = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                self.sub[p] = make([{"params": [p], **keys}])
                self.state[p] = self.sub[p].state[p]
                self._handles.append(p.register_post_accumulate_grad_hook(self._update))

    @torch.no_grad()
    def _update(self, p: nn.Parameter) -> None:
        sub = self.sub[p]
        for group in sub.param_groups:
            group["lr"] = self.param_groups[0]["lr"]
        sub.step()
        p.grad = None

    def step(self, closure=None):
        return closure() if closure is not None else None

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        for p, sub in self.sub.items():
            sub.state[p] = self.state[p]

    def remove_hooks(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []


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
