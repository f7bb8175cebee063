"""SignSGD and Signum (StoSignSGD paper, Alg. 5), written the ``torch.optim`` way.

Update, per coordinate, with decoupled weight decay λ:

    m_1 = g_1,  m_t = β m_{t-1} + (1 - β) g_t           (β > 0; NOT m_0 = 0)
    x_{t+1} = x_t - η sign(m_t) - η λ x_t

and with β = 0 simply ``x_{t+1} = x_t - η sign(g_t) - η λ x_t`` with no optimizer state at all.

Both paths use ``.grad`` as scratch space: after ``step()`` each gradient holds ``sign(g)`` (β = 0)
or ``sign(m_t)`` (β > 0). Gradients are discarded after a step anyway, and writing the sign in
place avoids a fresh temporary per step (on CPU a fresh ``_foreach_sign`` costs ~5x more than the
in-place one: over 8.4M fp32 parameters a fresh ``_foreach_sign`` then ``_foreach_add_`` took 8.5x a
plain ``_foreach_add_``, the in-place sign 1.74x, in one run; ``suite-bench optim`` measures yours).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor
from torch.optim.optimizer import _default_to_fused_or_foreach

from suite.optim._fused import register_fused_updates

__all__ = ["SignSGD", "Vote", "apply_sign", "default_foreach", "signsgd"]

Vote = Callable[[list[Tensor]], None]  # replaces each rank's signs, in place, by the ranks' vote


def default_foreach(params: list[Tensor]) -> bool:
    """``torch.optim``'s own default: the foreach path for CUDA tensors, per-tensor otherwise."""
    _, foreach = _default_to_fused_or_foreach(params, differentiable=False, use_fused=False)
    return foreach


class SignSGD(torch.optim.Optimizer):
    """SignSGD / Signum (Alg. 5 of StoSignSGD, arXiv 2604.15416).

    Args:
        params: parameters or parameter groups.
        lr: step size η.
        momentum: β; 0 gives plain SignSGD with an empty ``optimizer.state``.
        weight_decay: decoupled λ (``x ← x − η λ x``).
        foreach: use the ``torch._foreach_*`` path; None picks it on CUDA and the per-tensor
            path on CPU, where each tensor's pass stays in cache and measured faster
            (``suite-bench optim``), as ``torch.optim`` itself decides.
        fused_backward: update each parameter inside backward (post-accumulate-grad hook) and
            free its gradient at once; ``step()`` then does nothing. Gradient accumulation with
            momentum > 0 only (:meth:`micro_batch`).

    ``vote``: None in one process; under torchrun, what combines the ranks' signs in ``step``.
    """

    vote: Vote | None = None

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float = 1e-3,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        *,
        foreach: bool | None = None,
        fused_backward: bool = False,
    ) -> None:
        if lr < 0.0:
            raise ValueError(f"lr must be >= 0, got {lr}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, foreach=foreach)
        super().__init__(params, defaults)
        self.fused_backward = fused_backward
        self._handles = register_fused_updates(self, self._update_one) if fused_backward else []
        self._micro = (0, 1)  # this backward's micro-batch and the step's count
        self._fresh: set[Tensor] = set()  # buffers made in this step: m_1 = g_1, the sum unweighted

    def micro_batch(self, index: int, count: int) -> None:
        """With ``fused_backward`` and momentum > 0: the coming backward is micro-batch ``index``
        of ``count``. Each gradient is folded into the momentum buffer and freed, and the last
        micro-batch's hook steps: ``m_t = β m_{t-1} + (1 − β) Σ_i g_{t,i}`` as one accumulated
        step would form it (the loop divides each micro-batch's loss by ``count``), with no
        gradient buffer. Momentum 0 has no buffer to fold into."""
        if count > 1 and not all(g["momentum"] > 0 for g in self.param_groups):
            raise ValueError("SignSGD accumulates inside backward only with momentum > 0")
        self._micro = (index, count)

    def _init_group(
        self, group: dict, params: list[Tensor], grads: list[Tensor], bufs: list[Tensor | None]
    ) -> None:
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError("SignSGD does not support sparse gradients")
            params.append(p)
            grads.append(p.grad)
            if group["momentum"] > 0:
                bufs.append(self.state[p].get("momentum_buffer"))

    def _update_one(self, group: dict, p: Tensor) -> None:
        """The in-backward update of one parameter (single-tensor path)."""
        index, count = self._micro
        if count > 1:
            self._accumulate_one(group, p, last=index == count - 1, first=index == 0)
            return
        bufs = [self.state[p].get("momentum_buffer")] if group["momentum"] > 0 else []
        signsgd(
            [p],
            [p.grad],
            bufs,
            lr=group["lr"],
            momentum=group["momentum"],
            weight_decay=group["weight_decay"],
            foreach=False,
        )
        if group["momentum"] > 0:
            self.state[p]["momentum_buffer"] = bufs[0]

    def _accumulate_one(self, group: dict, p: Tensor, *, last: bool, first: bool) -> None:
        """One micro-batch's gradient into the momentum buffer; on the last, the step (Alg. 5)."""
        state, g, beta = self.state[p], p.grad, group["momentum"]
        if first and "momentum_buffer" not in state:
            state["momentum_buffer"] = g.detach().clone()
            self._fresh.add(p)
        elif first:
            self._fresh.discard(p)
            state["momentum_buffer"].lerp_(g, 1.0 - beta)
        else:
            state["momentum_buffer"].add_(g, alpha=1.0 if p in self._fresh else 1.0 - beta)
        if last:
            if group["weight_decay"] != 0:
                p.mul_(1.0 - group["lr"] * group["weight_decay"])
            p.add_(torch.sign(state["momentum_buffer"], out=g), alpha=-group["lr"])

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """One update of every parameter that has a gradient (a no-op with ``fused_backward``)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if self.fused_backward:
            return loss
        for group in self.param_groups:
            params: list[Tensor] = []
            grads: list[Tensor] = []
            bufs: list[Tensor | None] = []
            self._init_group(group, params, grads, bufs)
            if not params:
                continue
            foreach = group["foreach"]
            if foreach is None:
                foreach = default_foreach(params)
            signsgd(
                params,
                grads,
                bufs,
                lr=group["lr"],
                momentum=group["momentum"],
                weight_decay=group["weight_decay"],
                foreach=foreach,
                vote=self.vote,
            )
            if group["momentum"] > 0:
                for p, buf in zip(params, bufs, strict=True):
                    self.state[p]["momentum_buffer"] = buf
        return loss


def signsgd(
    params: list[Tensor],
    grads: list[Tensor],
    momentum_buffers: list[Tensor | None],
    *,
    lr: float,
    momentum: float,
    weight_decay: float,
    foreach: bool,
    vote: Vote | None = None,
) -> None:
    """Functional SignSGD/Signum (Alg. 5). Missing momentum buffers are created (m_1 = g_1) and
    written back into ``momentum_buffers``; ``grads`` are overwritten with the applied sign
    (``vote``: the ranks' vote on it, before it is applied)."""
    fn = _multi_tensor_signsgd if foreach else _single_tensor_signsgd
    fn(params, grads, momentum_buffers, lr=lr, momentum=momentum, weight_decay=weight_decay, vote=vote)


def apply_sign(p: Tensor, sign: Tensor, lr: float, weight_decay: float) -> None:
    """``x <- x - η λ x - η sign``."""
    if weight_decay != 0:
        p.mul_(1.0 - lr * weight_decay)
    p.add_(sign, alpha=-lr)


def _single_tensor_signsgd(
    params: list[Tensor],
    grads: list[Tensor],
    momentum_buffers: list[Tensor | None],
    *,
    lr: float,
    momentum: float,
    weight_decay: float,
    vote: Vote | None,
) -> None:
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        if momentum > 0:
            buf = momentum_buffers[i]
            if buf is None:
                buf = g.detach().clone()
                momentum_buffers[i] = buf
            else:
                buf.lerp_(g, 1.0 - momentum)
            torch.sign(buf, out=g)
        else:
            g.sign_()
        if vote is None:  # one pass per tensor, while it is in cache
            apply_sign(p, g, lr, weight_decay)
    if vote is not None:
        vote(grads)
        for p, g in zip(params, grads, strict=True):
            apply_sign(p, g, lr, weight_decay)


def _multi_tensor_signsgd(
    params: list[Tensor],
    grads: list[Tensor],
    momentum_buffers: list[Tensor | None],
    *,
    lr: float,
    momentum: float,
    weight_decay: float,
    vote: Vote | None,
) -> None:
    if momentum > 0:
        lists: list[list[Tensor | None]] = [params, grads, momentum_buffers]
    else:
        lists = [params, grads]
    grouped = torch.optim.Optimizer._group_tensors_by_device_and_dtype(lists, with_indices=True)
    for tensors, indices in grouped.values():
        dev_grads = tensors[1]
        if momentum > 0:
            dev_bufs = tensors[2]
            fresh = [j for j, b in enumerate(dev_bufs) if b is None]
            old = [j for j, b in enumerate(dev_bufs) if b is not None]
            if old:
                torch._foreach_lerp_([dev_bufs[j] for j in old], [dev_grads[j] for j in old], 1.0 - momentum)
            for j in fresh:
                buf = dev_grads[j].detach().clone()
                momentum_buffers[indices[j]] = buf
                dev_bufs[j] = buf
            for buf, g in zip(dev_bufs, dev_grads, strict=True):
                torch.sign(buf, out=g)  # one pass; a copy then an in-place sign would be two
        else:
            torch._foreach_sign_(dev_grads)
    if vote is not None:
        vote(grads)
    for tensors, _ in grouped.values():
        dev_params, dev_grads = tensors[0], tensors[1]
        if weight_decay != 0:
            torch._foreach_mul_(dev_params, 1.0 - lr * weight_decay)
        torch._foreach_add_(dev_params, dev_grads, alpha=-lr)
