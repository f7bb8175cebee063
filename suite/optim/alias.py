"""ALIAS: parameter-free Sign-SGD (Medyakov et al., ICLR'26, arXiv 2506.03725).

The paper's step size (arXiv 2506.03725; official code github.com/evseevgrv/SignSGD_GoldenGate,
``parameter_free_signsgd.py``), one scalar γ for all parameters:

    S_t = L_inf + Σ_{i<t} ‖g_{i+1} − g_i‖₁ / ‖x_{i+1} − x_i‖_∞          (λ_t = S_t^{−1/2})
    d̃_t = Σ_{i<t} γ_i ⟨g_{i+1}, sign(g_i)⟩,   d_t = max(d_{t−1}, d̃_t),   d_0 given
    γ_t = min(λ_t √d_t, clamp_level)          or, with a lower bound f̃ of f:
    γ_t = min(√((f(x_0) − f̃)/S_t), clamp_level)
    x_{t+1} = x_t (1 − γ_t λ_wd) − γ_t sign(g_t)     (or sign of a heavy-ball momentum buffer)

As the official code (``AIDsignSGD`` in ``parameter_free_signsgd.py``, driven by
``torchrun_main.py``):

* the statistics are updated every ``update_gap`` steps from the gradient and iterate stored at
  the last update (``prev_grad``, ``prev_param``, stored before the step, during warmup too), from
  the first step after ``warmup_steps`` on;
* during the first ``warmup_steps`` steps each group steps with its own ``lr``, which the run's
  LR scheduler sets every step (the official loop's scheduler warms up linearly over the same
  ``warmup_steps``); after that γ, and ``lr`` is ignored;
* ``clamp_level=None`` means the official default, 1e-3 (``math.inf``: no clamp);
* f(x_0) is the step's loss before any division by the accumulation count, averaged over ranks
  (the official loop passes it as the first step's closure; here :meth:`ALIAS.set_initial_loss`,
  called by the method from the loop's ``on_step_loss``). The official loop takes the undivided
  loss of the step's *last* micro-batch; the loop here hands the mean over all of the step's
  micro-batches (the same with one micro-batch);
* gradients are clipped, if at all, by the loop before ``step()`` (``train.max_grad_norm``, the
  official ``--grad_clipping``), so ‖Δg‖₁ and ⟨g, sign g_prev⟩ see the clipped gradients.

Unlike the code: the d̃ sum uses the paper's γ_i (the γ of the step at which ``prev_grad`` was
stored), not the code's ``zip(grads, prev_grad_list, prev_gamma)`` pairing of parameters with a
time-indexed history; the sums are accumulated in float64 (the code: in the parameter dtype);
a zero ‖x_{i+1} − x_i‖_∞ skips the S update (the code divides by it); a warmup that ends off an
``update_gap`` step computes γ at once (the code fails on an empty ``prev_gamma``).

Cost. The lower-bound rule never reads d̃, so its statistics skip the ⟨g, sign g_prev⟩ pass; the
‖·‖_∞ is one exact max-abs reduction; the sign update runs as foreach ops over all tensors
(elementwise, the same bits as the per-tensor loop).

Memory. Full mode keeps ``prev_grad`` and ``prev_param`` (2 tensors in the parameter dtype).
``sign_only_memory=True`` keeps one int8 tensor, ``sign(g_prev)``, plus scalars:

* ``⟨g_{t+1}, sign(g_t)⟩`` (the d̃ term) needs only the sign;
* ``‖x_{t+1} − x_t‖_∞ = γ_t`` for a pure sign step (no weight decay, ``update_gap = 1``), so
  ``prev_param`` is unnecessary; with weight decay or a gap > 1 it is not, and they are refused;
* ``‖g_{t+1} − g_t‖₁`` cannot be formed from the sign. We use (our choice; the paper's
  construction was not found) ``|⟨g_{t+1} − g_t, sign(g_t)⟩| = |⟨g_{t+1}, sign(g_t)⟩ − ‖g_t‖₁|``,
  the gradient change along the step direction, a lower bound of ``‖g_{t+1} − g_t‖₁`` (Hölder)
  that is exact when no coordinate of the gradient changes sign. It only makes γ larger; the
  clamp bounds it. The sign could be packed to 1 bit; int8 is kept for simplicity.

Not implemented: the code's ``AdamLike`` ("ALIAS Adam version") variant.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

__all__ = ["ALIAS"]

OFFICIAL_CLAMP_LEVEL = 1e-3  # parameter_free_signsgd.py: ``1e-3 if clamp_level is None``


class Scratch:
    """One flat buffer per (dtype, device), as large as the largest tensor, viewed per tensor:
    one allocation per statistics update instead of one per tensor."""

    def __init__(self, tensors: list[Tensor]) -> None:
        self.sizes: dict[tuple, int] = {}
        for t in tensors:
            key = (t.dtype, t.device)
            self.sizes[key] = max(self.sizes.get(key, 0), t.numel())
        self.buffers: dict[tuple, Tensor] = {}

    def like(self, t: Tensor) -> Tensor:
        key = (t.dtype, t.device)
        if key not in self.buffers:
            self.buffers[key] = torch.empty(self.sizes.get(key, t.numel()), dtype=t.dtype, device=t.device)
        return self.buffers[key][: t.numel()].view(t.shape)


class ALIAS(torch.optim.Optimizer):
    """Parameter-free Sign-SGD. Exactly one of ``d_0`` and ``lower_bound`` must be given.

    Args:
        params: parameters or parameter groups (γ is shared by all of them).
        L_inf: initial value of the curvature sum S (scripts: 100.0).
        lower_bound: f̃ ≤ inf f for the lower-bound rule (scripts: 0.0).
        d_0: initial distance estimate for the d-rule.
        weight_decay: decoupled, ``x ← x(1 − γ·wd)``.
        clamp_level: upper bound on γ (None: the official default 1e-3; ``math.inf``: no clamp;
            the sign-only script: 0.01).
        update_gap: steps between statistics updates (scripts: 10 or 20).
        momentum, dampening, nesterov: heavy ball on the gradient as ``torch.optim.SGD``; the
            step is ``γ·sign(buffer)`` (or the Nesterov direction).
        lr: the step size during warmup (required if ``warmup_steps > 0``); an LR scheduler may
            change each group's ``lr`` every step, as in the official loop.
        warmup_steps: steps with each group's ``lr`` before γ takes over.
        sign_only_memory: keep only int8 ``sign(g_prev)`` (see the module docstring).

    After each step ``param_groups[i]["lr"]`` holds the γ that was used.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        L_inf: float = 100.0,  # noqa: N803 (the reference's name)
        lower_bound: float | None = None,
        d_0: float | None = None,
        weight_decay: float = 0.0,
        clamp_level: float | None = 1e-3,
        update_gap: int = 1,
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        lr: float | None = None,
        warmup_steps: int = 0,
        *,
        sign_only_memory: bool = False,
    ) -> None:
        if (d_0 is None) == (lower_bound is None):
            raise ValueError("ALIAS needs exactly one of d_0 and lower_bound")
        if d_0 is not None and d_0 <= 0:
            raise ValueError(f"d_0 must be > 0, got {d_0}")
        if L_inf <= 0 or update_gap < 1 or warmup_steps < 0:
            raise ValueError("ALIAS needs L_inf > 0, update_gap >= 1 and warmup_steps >= 0")
        if warmup_steps > 0 and lr is None:
            raise ValueError("warmup_steps > 0 needs lr (the step size during warmup)")
        if not 0.0 <= momentum < 1.0 or (nesterov and (momentum == 0 or dampening != 0)):
            raise ValueError("momentum must be in [0, 1); nesterov needs momentum > 0, dampening 0")
        if sign_only_memory and (weight_decay != 0 or update_gap != 1):
            raise ValueError("sign_only_memory needs weight_decay=0 and update_gap=1")
        defaults = dict(
            lr=lr if lr is not None else 0.0,
            weight_decay=weight_decay,
            momentum=momentum,
            dampening=dampening,
            nesterov=nesterov,
        )
        super().__init__(params, defaults)
        self.L_inf = L_inf
        self.lower_bound = lower_bound
        self.d_0 = d_0
        self.clamp_level = OFFICIAL_CLAMP_LEVEL if clamp_level is None else clamp_level
        self.update_gap = update_gap
        self.warmup_steps = warmup_steps
        self.sign_only_memory = sign_only_memory
        self.stats: dict[str, Any] = dict(
            step=0,
            S=float(L_inf),
            d=float(d_0) if d_0 is not None else 0.0,
            d_tilde=0.0,
            gamma=None,
            gamma_prev=None,
            prev_l1=None,
            f0=None,
        )

    def set_initial_loss(self, loss: float | Tensor) -> None:
        """Record f(x_0) for the lower-bound rule (only the first call counts)."""
        if self.stats["f0"] is None:
            self.stats["f0"] = float(loss)

    def _params_with_grad(self) -> list[Tensor]:
        return [p for g in self.param_groups for p in g["params"] if p.grad is not None]

    def _update_statistics(self, params: list[Tensor]) -> None:
        """S += ‖Δg‖₁/‖Δx‖_∞ and (d-rule) d̃ += γ_prev⟨g, sign(g_prev)⟩ against the stored state.

        Each tensor's terms are reduced on its device (sums in float64, the max exactly), using one
        scratch tensor, and read back in one host transfer, not one sync per tensor; the sums are
        added in Python in parameter order, as one ``float()`` per tensor would."""
        st = self.stats
        if self.sign_only_memory:
            sums = [torch.mul(p.grad, self.state[p]["prev_sign"]).sum(dtype=torch.float64) for p in params]
            inner = sum(torch.stack(sums).tolist())
            st["S"] += abs(inner - st["prev_l1"]) / st["gamma_prev"] if st["gamma_prev"] > 0 else 0.0
            self._add_to_distance(inner)
            return
        wants_inner = self.lower_bound is None  # the lower-bound rule never reads d̃
        scratch = Scratch(params)
        diffs, inners, steps = [], [], []
        for p in params:
            state, g, buf = self.state[p], p.grad, scratch.like(p.grad)
            prev = state["prev_grad"]
            diffs.append(torch.sub(g, prev, out=buf).abs_().sum(dtype=torch.float64))
            if wants_inner:
                inners.append(torch.sign(prev, out=buf).mul_(g).sum(dtype=torch.float64))
            low, high = torch.aminmax(torch.sub(p, state["prev_param"], out=scratch.like(p)))
            steps.append(torch.maximum(high, low.neg()).to(torch.float64))  # ‖·‖_∞, exact
        n = len(params)
        values = torch.stack(diffs + steps + inners).tolist()
        diff_l1, step_inf = sum(values[:n]), max(values[n : 2 * n])
        if step_inf > 0:
            st["S"] += diff_l1 / step_inf
        if wants_inner:
            self._add_to_distance(sum(values[2 * n :]))

    def _add_to_distance(self, inner: float) -> None:
        """d̃ += γ_prev·inner, d = max(d, d̃)."""
        st = self.stats
        st["d_tilde"] += st["gamma_prev"] * inner
        st["d"] = max(st["d"], st["d_tilde"])

    def _gamma(self) -> float:
        st = self.stats
        if self.lower_bound is not None:
            if st["f0"] is None:
                raise RuntimeError(
                    "ALIAS(lower_bound=...) needs f(x_0): call set_initial_loss(loss) or pass a "
                    "closure to the first step()"
                )
            gamma = math.sqrt(max(st["f0"] - self.lower_bound, 0.0) / st["S"])
        else:
            gamma = math.sqrt(st["d"] / st["S"])
        return min(gamma, self.clamp_level)

    def _store_previous(self, params: list[Tensor]) -> None:
        l1 = []
        for p in params:
            state = self.state[p]
            if self.sign_only_memory:
                if "prev_sign" not in state:
                    state["prev_sign"] = torch.empty_like(p, dtype=torch.int8)
                state["prev_sign"].copy_(torch.sign(p.grad))
                l1.append(p.grad.abs().sum(dtype=torch.float64))
            elif "prev_grad" not in state:
                state["prev_grad"] = p.grad.detach().clone()
                state["prev_param"] = p.detach().clone()
            else:
                state["prev_grad"].copy_(p.grad)
                state["prev_param"].copy_(p)
        self.stats["prev_l1"] = sum(torch.stack(l1).tolist()) if l1 else 0.0

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """One step: statistics (every ``update_gap`` steps after warmup), γ, sign update."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
            self.set_initial_loss(loss)
        params = self._params_with_grad()
        if not params:
            return loss
        st = self.stats
        t = st["step"]
        on_gap = t % self.update_gap == 0
        warming_up = t < self.warmup_steps
        if warming_up:
            gamma = self.param_groups[0]["lr"]
        else:
            if on_gap and st["gamma_prev"] is not None and t > self.warmup_steps:
                self._update_statistics(params)
            if on_gap or st["gamma"] is None:
                st["gamma"] = self._gamma()
            gamma = st["gamma"]
        if on_gap:
            self._store_previous(params)
            st["gamma_prev"] = gamma
        for group in self.param_groups:
            if not warming_up:
                group["lr"] = gamma
            self._sign_update(group, float(group["lr"]))
        st["step"] = t + 1
        return loss

    def _sign_update(self, group: dict, gamma: float) -> None:
        """``x ← x(1 − γ wd) − γ sign(direction)`` over the group's tensors at once (foreach);
        ``.grad`` is used as scratch."""
        beta, damp, wd = group["momentum"], group["dampening"], group["weight_decay"]
        params = [p for p in group["params"] if p.grad is not None]
        if not params:
            return
        grads = [p.grad for p in params]
        if beta > 0:
            self._momentum(params, grads, beta, damp, group["nesterov"])
        if wd != 0:
            torch._foreach_mul_(params, 1.0 - gamma * wd)
        torch._foreach_sign_(grads)
        torch._foreach_add_(params, grads, alpha=-gamma)

    def _momentum(
        self, params: list[Tensor], grads: list[Tensor], beta: float, damp: float, nesterov: bool
    ) -> None:
        """Heavy ball as ``torch.optim.SGD``: each ``.grad`` becomes the buffer (or Nesterov's)."""
        for p, g in zip(params, grads, strict=True):
            state = self.state[p]
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.detach().clone()
            else:
                buf.mul_(beta).add_(g, alpha=1.0 - damp)
            if nesterov:
                g.add_(buf, alpha=beta)
            else:
                g.copy_(buf)

    def state_dict(self) -> dict[str, Any]:
        """Per-parameter state plus the scalar statistics (S, d, d̃, γ, step, f(x_0))."""
        sd = super().state_dict()
        sd["alias"] = dict(self.stats)
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore per-parameter state and the statistics."""
        state_dict = dict(state_dict)
        stats = state_dict.pop("alias")
        super().load_state_dict(state_dict)
        self.stats = dict(stats)
