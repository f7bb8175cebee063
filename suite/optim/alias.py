"""ALIAS: parameter-free Sign-SGD (Medyakov et al., ICLR'26, arXiv 2506.03725).

The paper's step size (arXiv 2506.03725; official code github.com/evseevgrv/SignSGD_GoldenGate,
``parameter_free_signsgd.py``), one scalar γ for all parameters:

    S_t = L_inf + Σ_{i<t} ‖g_{i+1} − g_i‖₁ / ‖x_{i+1} − x_i‖_∞          (λ_t = S_t^{−1/2})
    d̃_t = Σ_{i<t} γ_i ⟨g_{i+1}, sign(g_i)⟩,   d_t = max(d_{t−1}, d̃_t),   d_0 given
    γ_t = min(λ_t √d_t, clamp_level)          or, with a lower bound f̃ of f:
    γ_t = min(√((f(x_0) − f̃)/S_t), clamp_level)
    x_{t+1} = x_t (1 − γ_t λ_wd) − γ_t sign(g_t)     (or sign of a heavy-ball momentum buffer)

Like the official code (``AIDsignSGD``), the statistics are updated every ``update_gap`` steps
from the gradient and iterate stored at the last update (``prev_grad``, ``prev_param``), only
after ``warmup_steps`` steps, during which the user ``lr`` is used. Unlike the code, the d̃ sum
uses the paper's γ_i (the γ of the step at which ``prev_grad`` was stored), not the code's
``zip(grads, prev_grad_list, prev_gamma)`` pairing of parameters with a time-indexed history.

f(x_0) for the lower-bound rule: call :meth:`ALIAS.set_initial_loss` once before the first step
(the method module does it from the first loss, so the loop calls plain ``step()``), or pass a
``closure`` to the first ``step``.

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


class ALIAS(torch.optim.Optimizer):
    """Parameter-free Sign-SGD. Exactly one of ``d_0`` and ``lower_bound`` must be given.

    Args:
        params: parameters or parameter groups (γ is shared by all of them).
        L_inf: initial value of the curvature sum S (scripts: 100.0).
        lower_bound: f̃ ≤ inf f for the lower-bound rule (scripts: 0.0).
        d_0: initial distance estimate for the d-rule.
        weight_decay: decoupled, ``x ← x(1 − γ·wd)``.
        clamp_level: upper bound on γ (None: no clamp; scripts: 0.01 sign-only).
        update_gap: steps between statistics updates (scripts: 10 or 20).
        momentum, dampening, nesterov: heavy ball on the gradient as ``torch.optim.SGD``; the
            step is ``γ·sign(buffer)`` (or the Nesterov direction).
        lr: the step size during warmup (required if ``warmup_steps > 0``).
        warmup_steps: steps with the user ``lr`` before γ takes over.
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
        self.clamp_level = clamp_level
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
        """S += ‖Δg‖₁/‖Δx‖_∞ and d̃ += γ_prev⟨g, sign(g_prev)⟩ against the stored state.

        Each tensor's terms are reduced (sums in float64) on its device, using one scratch tensor,
        and read back in one host transfer per kind, not one sync per tensor; they are summed in
        Python in parameter order, as one ``float()`` per tensor would."""
        st = self.stats
        sums, steps = [], []
        for p in params:
            state = self.state[p]
            g = p.grad
            if self.sign_only_memory:
                sums.append(torch.mul(g, state["prev_sign"]).sum(dtype=torch.float64))
                continue
            prev = state["prev_grad"]
            scratch = torch.sign(prev).mul_(g)
            sums.append(scratch.sum(dtype=torch.float64))
            sums.append(torch.sub(g, prev, out=scratch).abs_().sum(dtype=torch.float64))
            steps.append(torch.sub(p, state["prev_param"], out=scratch).abs_().amax())
        values = torch.stack(sums).tolist()
        if self.sign_only_memory:
            inner = sum(values)
            diff_l1 = abs(inner - st["prev_l1"])
            step_inf = st["gamma_prev"]
        else:
            inner, diff_l1 = sum(values[0::2]), sum(values[1::2])
            step_inf = max(torch.stack(steps).tolist())
        if step_inf > 0:
            st["S"] += diff_l1 / step_inf
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
        return gamma if self.clamp_level is None else min(gamma, self.clamp_level)

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
        has_prev = st["gamma_prev"] is not None
        if t < self.warmup_steps:
            gamma = self.param_groups[0]["lr"]
        else:
            if on_gap and has_prev and t > self.warmup_steps:
                self._update_statistics(params)
            if on_gap or st["gamma"] is None:
                st["gamma"] = self._gamma()
            gamma = st["gamma"]
        if on_gap:
            self._store_previous(params)
            st["gamma_prev"] = gamma
        for group in self.param_groups:
            group["lr"] = gamma
            self._sign_update(group, gamma)
        st["step"] = t + 1
        return loss

    def _sign_update(self, group: dict, gamma: float) -> None:
        """``x ← x(1 − γ wd) − γ sign(direction)``; ``.grad`` is used as scratch."""
        beta, damp, wd = group["momentum"], group["dampening"], group["weight_decay"]
        for p in group["params"]:
            g = p.grad
            if g is None:
                continue
            if beta > 0:
                state = self.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = g.detach().clone()
                else:
                    buf.mul_(beta).add_(g, alpha=1.0 - damp)
                if group["nesterov"]:
                    g.add_(buf, alpha=beta)
                else:
                    g.copy_(buf)
            if wd != 0:
                p.mul_(1.0 - gamma * wd)
            p.add_(g.sign_(), alpha=-gamma)

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
