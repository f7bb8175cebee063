"""AdamW with its state offloaded to host memory (torchao ``CPUOffloadOptimizer``; pytorch/ao
``torchao/optim/cpu_offload.py``): ZeRO-Offload for one GPU (Ren et al., "ZeRO-Offload:
Democratizing Billion-Scale Model Training", USENIX ATC 2021, arXiv 2101.06840, Sec. 4).

Every trainable tensor of at least ``minimal_size`` values gets a pinned host copy, a pinned host
gradient and its own ``torch.optim.AdamW`` (fused, run by the CPU) over that copy. Each gradient is
copied device -> host on a side stream as soon as backward has accumulated it; ``step`` runs the
host AdamW and copies the weights back host -> device. Smaller tensors (norms) keep a fused AdamW
on the device. ``offload_gradients=true`` also frees each device gradient once copied (torchao's
README: then gradient accumulation is not supported).

Memory: on the device, the weights, their gradients and the small tensors' AdamW state; on the
host, per offloaded tensor, its copy, its gradient and the two moments (4x its bytes) and a 4-byte
step. The meter counts the host part as ``mem_host_state_bytes`` (``Method.host_state``), outside
the device categories. torchao asserts a CUDA (or XPU) device when it is built, so the suite
refuses the method on any other device (``traits.needs_cuda_because``). ``suite-estimate`` builds it
on the meta device as :class:`DeviceSide`: what torchao leaves on the GPU, and its host bytes.
"""

from __future__ import annotations

import torch
from torch import nn
from torchao.optim import CPUOffloadOptimizer

from suite.methods import Method, trainable


class OffloadedAdamW(CPUOffloadOptimizer):
    """torchao's wrapper with what the suite reads of an optimizer: ``state`` (torchao does not
    call ``Optimizer.__init__``, so it has none), ``param_groups`` read from the inner AdamWs each
    time (torchao's own list keeps the device AdamW's groups of before a ``load_state_dict``) and
    settable as resume sets them, and host copies that follow weights loaded after it was built
    (torchao copies them once, in ``__init__``)."""

    def optimizers(self) -> list[torch.optim.Optimizer]:
        """The device AdamW (if any tensor is small), then one host AdamW per offloaded tensor."""
        return [*([self.d_opt] if self.d_opt is not None else []), *self.optim_dict.values()]

    @property
    def state(self) -> dict:
        return {p: s for optim in self.optimizers() for p, s in optim.state.items()}

    @property
    def param_groups(self) -> list[dict]:
        return [g for optim in self.optimizers() for g in optim.param_groups]

    @param_groups.setter
    def param_groups(self, groups: list[dict]) -> None:
        groups = iter(groups)
        for optim in self.optimizers():
            optim.param_groups = [next(groups) for _ in optim.param_groups]

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        with torch.no_grad():
            for p_device, p_host in self.param_d2h_map.items():
                p_host.copy_(p_device)

    def host_tensors(self) -> list[torch.Tensor]:
        """What it keeps in host memory: the copies, their gradients, the host AdamWs' state."""
        copies = list(self.param_d2h_map.values())
        states = [t for optim in self.optim_dict.values() for s in optim.state.values() for t in s.values()]
        return [*copies, *(p.grad for p in copies), *(t for t in states if isinstance(t, torch.Tensor))]


class DeviceSide(torch.optim.AdamW):
    """torchao's layout on the meta device (``suite-estimate``): AdamW on the tensors under
    ``minimal_size``; the other gradients kept until ``zero_grad`` (or, with ``offload_gradients``,
    freed once accumulated, as torchao's backward hook frees them); and, as host state, per
    offloaded tensor the copy, gradient, two moments (its dtype) and fp32 step torchao's host
    AdamW holds."""

    def __init__(self, params: list[nn.Parameter], minimal_size: int, offload_gradients: bool, **kwargs):
        self.offloaded = [p for p in params if p.numel() >= minimal_size]
        super().__init__([{"params": [p for p in params if p.numel() < minimal_size]}], **kwargs)
        self.host = [
            t
            for p in self.offloaded
            for t in (*(torch.empty_like(p) for _ in range(4)), torch.empty((), device=p.device))
        ]
        if offload_gradients:
            for p in self.offloaded:
                p.register_post_accumulate_grad_hook(lambda q: setattr(q, "grad", None))

    def zero_grad(self, set_to_none: bool = True) -> None:
        super().zero_grad(set_to_none)
        for p in self.offloaded:
            p.grad = None


def build(
    model: nn.Module,
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    offload_gradients: bool,
    minimal_size: int,
) -> Method:
    """torchao ``CPUOffloadOptimizer`` over fused ``torch.optim.AdamW``; defaults in
    ``conf/method/adamw_offload.yaml``."""
    params = trainable(model)
    adamw = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)
    if any(p.device.type == "meta" for p in params):
        side = DeviceSide(params, minimal_size, offload_gradients, foreach=True, **adamw)
        return Method(model=model, optimizer=side, host_state=lambda: side.host)
    optimizer = OffloadedAdamW(
        params,
        torch.optim.AdamW,
        offload_gradients=offload_gradients,
        minimal_size=minimal_size,
        fused=True,
        **adamw,
    )
    return Method(model=model, optimizer=optimizer, host_state=optimizer.host_tensors)
