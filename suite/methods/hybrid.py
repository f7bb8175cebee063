"""Two optimizers on disjoint parameter sets, seen by the loop as one (Muon's hidden matrices and
AdamW's rest, as ``MuonWithAuxAdam`` in github.com/KellerJordan/Muon ``muon.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from suite.optim.alias import JointState


class Hybrid(torch.optim.Optimizer):
    """``parts`` stepped one after the other.

    * ``param_groups`` is the parts' groups in order (the same dicts), so an LR scheduler moves
      every part from its own initial lr, and the first part's lr is the one logged;
    * ``state`` is the parts' states as one read-only mapping (the memory meter walks it);
    * ``state_dict`` holds each part's; ``load_state_dict`` restores them into the group dicts the
      scheduler holds.
    """

    def __init__(self, parts: list[torch.optim.Optimizer]):
        self.parts = [p for p in parts if p.param_groups]
        params = [q for part in self.parts for g in part.param_groups for q in g["params"]]
        super().__init__(params, {})
        self.param_groups = [g for part in self.parts for g in part.param_groups]
        self.state = JointState(*(part.state for part in self.parts))

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = closure() if closure is not None else None
        for part in self.parts:
            part.step()
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        for part in self.parts:
            part.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        return {"parts": [part.state_dict() for part in self.parts]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        for part, state in zip(self.parts, state_dict["parts"], strict=True):
            groups = part.param_groups
            part.load_state_dict(state)
            for group, loaded in zip(groups, part.param_groups, strict=True):
                group.update({k: v for k, v in loaded.items() if k != "params"})
            part.param_groups = groups
        self.state = JointState(*(part.state for part in self.parts))
