"""Machinery the low-rank and block methods share: param groups that single out the attention and
MLP Linear weights (GaLore's and APOLLO's selection), state the memory meter must read afresh
(projector objects, BAdam's replaced state dicts), and a per-layer optimizer stepped in backward.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from suite.blocks import attn_mlp_linear_names


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


PROJECTOR_TENSORS = ("ortho_matrix", "ortho_matrix_scales", "ortho_matrix_zeros", "past_ortho_vector")


def projector_matrices(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    """The tensors held by the GaLore/APOLLO/Q-GaLore projectors in ``optimizer.state``: the
    projection matrix (a list of two for GaLore's 'full' type), and Q-GaLore's quantization scales
    and zero points and the previous projector's first vector it compares the next one with."""
    found = []
    for state in optimizer.state.values():
        proj = state.get("projector")
        for name in PROJECTOR_TENSORS:
            m = getattr(proj, name, None)
            if m is not None:
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
