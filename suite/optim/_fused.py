"""In-backward ("fused") updates: apply an optimizer's rule to each parameter as soon as its
gradient is ready, then free that gradient, so that at most about one gradient tensor is alive.

LOMO-style, but with ``Tensor.register_post_accumulate_grad_hook`` (torch >= 2.1), which fires
once per parameter after its ``.grad`` is accumulated. The training loop must then never call
``step()``/``zero_grad()`` for updates and must refuse gradient accumulation (the method sets
``Method.updates_in_backward``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.hooks import RemovableHandle

UpdateOne = Callable[[dict, torch.Tensor], None]


def register_fused_updates(
    optimizer: torch.optim.Optimizer,
    update_one: UpdateOne,
    on_backward_end: Callable[[], None] | None = None,
) -> list[RemovableHandle]:
    """Hook ``update_one(group, p)`` on every parameter of ``optimizer``; ``p.grad`` is freed after.

    ``on_backward_end`` (optional) runs once at the end of every backward pass that updated at
    least one parameter (queued on the autograd engine, as DDP does).
    """
    pending = {"queued": False}

    def end_of_backward() -> None:
        pending["queued"] = False
        if on_backward_end is not None:
            on_backward_end()

    def make_hook(group: dict) -> Callable[[torch.Tensor], None]:
        def hook(p: torch.Tensor) -> None:
            if on_backward_end is not None and not pending["queued"]:
                pending["queued"] = True
                torch.autograd.Variable._execution_engine.queue_callback(end_of_backward)
            with torch.no_grad():
                update_one(group, p)
            p.grad = None

        return hook

    handles = []
    for group in optimizer.param_groups:
        hook = make_hook(group)
        for p in group["params"]:
            handles.append(p.register_post_accumulate_grad_hook(hook))
    return handles
