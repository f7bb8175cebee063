"""fp32 master weights for a torch optimizer on low-precision (bf16) parameters.

Mixed precision as the SQ-MEFT paper's Table I counts it (AdamW state 12 B/param = fp32 master
copy + two moments; SGDM 8 B/param; SGD's only "state" its 4 B/param master copy): the wrapped
optimizer keeps an fp32 copy of every trainable parameter and updates that copy; after each step
the model's bf16 parameter is the copy rounded to nearest. The copies live in ``param_groups``,
so the memory meter counts them (and their gradients while they exist) as optimizer state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor


class MasterWeights(torch.optim.Optimizer):
    """``make(masters)`` builds the inner optimizer on fp32 copies of ``params``.

    ``step()``: each gradient is copied into its master's fp32 ``.grad``, the inner optimizer
    steps, the master is copied back into the parameter and its gradient freed. LR schedulers act
    on the inner ``param_groups``. Gradient clipping of ``param_groups`` is not possible (the
    masters have no gradient before ``step``): the method refuses it by having no gradients there.
    """

    def __init__(self, params: Iterable[Tensor], make: Callable[[list[Tensor]], torch.optim.Optimizer]):
        self.model_params = list(params)
        masters = [p.detach().to(torch.float32, copy=True) for p in self.model_params]
        self.inner = make(masters)
        self.masters = masters
        self.defaults = self.inner.defaults
        self._optimizer_step_pre_hooks: dict = {}
        self._optimizer_step_post_hooks: dict = {}

    @property
    def param_groups(self) -> list[dict]:  # the masters, so schedulers and the meter see them
        return self.inner.param_groups

    @property
    def state(self) -> dict:
        return self.inner.state

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """Gradients into the fp32 masters, the inner step, masters rounded back into the model."""
        for p, m in zip(self.model_params, self.masters, strict=True):
            m.grad = None if p.grad is None else p.grad.to(torch.float32)
        loss = self.inner.step(closure)
        for p, m in zip(self.model_params, self.masters, strict=True):
            p.copy_(m)
            m.grad = None
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.model_params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    def state_dict(self) -> dict[str, Any]:
        """The inner optimizer's state plus the masters (they are not the model's weights)."""
        return {"inner": self.inner.state_dict(), "masters": [m.clone() for m in self.masters]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.inner.load_state_dict(state_dict["inner"])
        for m, saved in zip(self.masters, state_dict["masters"], strict=True):
            m.copy_(saved)


def masters_of(optimizer: torch.optim.Optimizer) -> Callable[[], list[Tensor]] | None:
    """For ``Method.updated_tensors``: the fp32 masters a :class:`MasterWeights` steps."""
    return (lambda: optimizer.masters) if isinstance(optimizer, MasterWeights) else None


def maybe_master(
    params: list[Tensor], master_weights: bool, make: Callable[[list[Tensor]], torch.optim.Optimizer]
) -> torch.optim.Optimizer:
    """``make(params)``, or with ``master_weights`` the same optimizer on fp32 masters."""
    return MasterWeights(params, make) if master_weights else make(params)
