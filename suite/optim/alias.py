"""ALIAS: parameter-free Sign-SGD (Medyakov et al., ICLR'26, arXiv 2506.03725).

The paper's step size (arXiv 2506.03725; official code github.com/evseevgrv/SignSGD_GoldenGate,
``parameter_free_signsgd.py``), one scalar γ for all parameters:

    S_t = L_inf + Σ_{i<t} ‖g_{i+1} − g_i‖₁ / ‖x_{i+1} − x_i‖_∞          (λ_t = S_t^{−1/2})
    d̃_t = Σ_{i<t} γ_i ⟨g_{i+1}, sign(g_i)⟩,   d_t = max(d_{t−1}, d̃_t),   d_0 given
    γ_t = min(λ_t √d_t, clamp_level)          or, with a lower bound f̃ of f:
    γ_t = min(√((f(x_0) − f̃)/S_t), clamp_level)
    x_{t+1} = x_t (1 − γ_t λ_wd) − γ_t sign(g_t)

As the official code (``AIDsignSGD`` and ``aid_sign_sgd`` in ``parameter_free_signsgd.py``, driven
by ``torchrun_main.py``):

* **momentum does nothing by default.** ``AIDsignSGD._init_group`` reads
  ``state.get("momentum_buffer")``, ``_single_tensor_aid_sign_sgd`` clones a fresh buffer from the
  gradient whenever it gets ``None``, and ``AIDsignSGD.step`` stores back only ``prev_grad`` and
  ``prev_param``: the buffer is never kept, so every step signs the raw gradient whatever
  ``momentum`` (and ``dampening``, ``nesterov``) is. ``heavy_ball=True`` keeps a true heavy-ball
  buffer (``torch.optim.SGD``'s) and signs it, the algorithm with momentum as the paper writes it;
* **statistics in the parameter dtype by default**: the official sums (``vector_norm`` per tensor,
  then over the stack) and the scalars S, f(x_0) − f̃, γ are tensors of the first parameter's
  dtype; here the same reductions run in that dtype and every scalar operation is rounded to it
  (one correctly rounded operation each, as the tensor arithmetic). ``float64_statistics=True``
  accumulates every sum and scalar in float64 instead (with bf16 weights the default S, a bf16
  scalar, stops growing once the increments fall below 1/256 of it);
* ``L_inf = 0`` (``alias_run.sh``) is allowed: S is then 0 until the first statistics update, γ is
  √(f(x_0) − f̃)/0 = ∞ there and the clamp sets it, so the first ``update_gap`` steps after warmup
  run at ``clamp_level`` (which must then be finite);
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
time-indexed history; a zero ‖x_{i+1} − x_i‖_∞ skips the S update (the code divides by it); a
warmup that ends off an ``update_gap`` step computes γ at once (the code fails on an empty
``prev_gamma``).

What the clamp did is kept: :meth:`ALIAS.step_stats` gives γ as used, γ before the clamp, S, the
numerator d (d_t, or f(x_0) − f̃ for the lower-bound rule) and the fraction of post-warmup steps
whose γ was the clamp.

:class:`ALIASWithAdamW` is the official ``AIDWithAdam``: the sign step on some parameters, AdamW
on the rest.

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
from collections import ChainMap
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

__all__ = ["ALIAS", "ALIASWithAdamW"]

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
        L_inf: initial value of the curvature sum S (scripts: 100.0; ``alias_run.sh``: 0).
        lower_bound: f̃ ≤ inf f for the lower-bound rule (scripts: 0.0).
        d_0: initial distance estimate for the d-rule.
        weight_decay: decoupled, ``x ← x(1 − γ·wd)``.
        clamp_level: upper bound on γ (None: the official default 1e-3; ``math.inf``: no clamp;
            the sign-only script: 0.01).
        update_gap: steps between statistics updates (scripts: 10 or 20).
        momentum, dampening, nesterov: accepted and, as the official code, without effect unless
            ``heavy_ball`` (see the module docstring).
        lr: the step size during warmup (required if ``warmup_steps > 0``); an LR scheduler may
            change each group's ``lr`` every step, as in the official loop.
        warmup_steps: steps with each group's ``lr`` before γ takes over.
        heavy_ball: keep a heavy-ball buffer as ``torch.optim.SGD`` and step ``γ·sign(buffer)``
            (or the Nesterov direction); False (the official code): sign the gradient.
        float64_statistics: accumulate the statistics in float64 (False: in the parameter dtype,
            as the official code).
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
        heavy_ball: bool = False,
        float64_statistics: bool = False,
        sign_only_memory: bool = False,
    ) -> None:
        clamp_level = OFFICIAL_CLAMP_LEVEL if clamp_level is None else clamp_level
        if (d_0 is None) == (lower_bound is None):
            raise ValueError("ALIAS needs exactly one of d_0 and lower_bound")
        if d_0 is not None and d_0 <= 0:
            raise ValueError(f"d_0 must be > 0, got {d_0}")
        if L_inf < 0 or update_gap < 1 or warmup_steps < 0:
            raise ValueError("ALIAS needs L_inf >= 0, update_gap >= 1 and warmup_steps >= 0")
        if L_inf == 0 and not math.isfinite(clamp_level):
            raise ValueError("L_inf=0 needs a finite clamp_level: the first γ is √(f/0) = ∞, clamped")
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
        self.heavy_ball = heavy_ball
        self.float64_statistics = float64_statistics
        self.sign_only_memory = sign_only_memory
        first = self.param_groups[0]["params"][0]
        self.stats_dtype = torch.float64 if float64_statistics else first.dtype
        self.stats: dict[str, Any] = dict(
            step=0,
            S=self._round(L_inf),
            d=self._round(d_0) if d_0 is not None else 0.0,
            d_tilde=0.0,
            gamma=None,
            gamma_unclamped=None,
            gamma_prev=None,
            prev_l1=None,
            f0=None,
            alias_steps=0,
            clamped_steps=0,
        )

    def _round(self, x: float) -> float:
        """``x`` rounded to the statistics dtype (a float64 sum, difference or product of values
        of a narrower dtype, rounded once, is that dtype's correctly rounded operation)."""
        if self.stats_dtype == torch.float64 or not math.isfinite(x):
            return x
        return torch.tensor(x, dtype=self.stats_dtype).item()

    def _div(self, a: float, b: float) -> float:
        """a / b as the official code computes it, on scalar tensors of the statistics dtype
        (torch divides by a scalar tensor as a product with its reciprocal)."""
        if self.float64_statistics:
            return a / b
        return torch.tensor(a, dtype=self.stats_dtype).div(torch.tensor(b, dtype=self.stats_dtype)).item()

    def _sqrt(self, x: float) -> float:
        if self.float64_statistics or not math.isfinite(x):
            return math.sqrt(x)
        return torch.tensor(x, dtype=self.stats_dtype).sqrt().item()

    def set_initial_loss(self, loss: float | Tensor) -> None:
        """Record f(x_0) for the lower-bound rule (only the first call counts)."""
        if self.stats["f0"] is None:
            self.stats["f0"] = self._round(float(loss))

    def _params_with_grad(self) -> list[Tensor]:
        return [p for g in self.param_groups for p in g["params"] if p.grad is not None]

    def _reduced(self, terms: list[Tensor], how: str) -> Tensor:
        """The per-tensor terms combined over tensors: in float64 one exact value per tensor (the
        sum taken in Python, in parameter order); in the parameter dtype the official way,
        ``vector_norm`` of the stack (ord 1 for sums of non-negative terms, ∞ for the max)."""
        stacked = torch.stack([t.to(self.stats_dtype) for t in terms])
        if how == "max":
            return stacked.max()
        return torch.linalg.vector_norm(stacked, 1) if how == "l1" else stacked.sum()

    def _update_statistics(self, params: list[Tensor]) -> None:
        """S += ‖Δg‖₁/‖Δx‖_∞ and (d-rule) d̃ += γ_prev⟨g, sign(g_prev)⟩ against the stored state.

        Each tensor's terms are reduced on its device, using one scratch tensor, and read back in
        one host transfer, not one sync per tensor. In float64 the sums are added in Python in
        parameter order, as one ``float()`` per tensor would; in the parameter dtype each tensor's
        ‖Δg‖₁ is ``vector_norm(·, 1)`` and the tensors' terms are combined on the device, as the
        official ``_single_tensor_aid_sign_sgd``."""
        st, r, wide = self.stats, self._round, self.float64_statistics
        acc = torch.float64 if wide else None
        if self.sign_only_memory:
            sums = [torch.mul(p.grad, self.state[p]["prev_sign"]).sum(dtype=acc) for p in params]
            inner = sum(torch.stack(sums).tolist()) if wide else self._reduced(sums, "sum").item()
            if st["gamma_prev"] > 0:
                st["S"] = r(st["S"] + self._div(abs(r(inner - st["prev_l1"])), st["gamma_prev"]))
            self._add_to_distance(inner)
            return
        wants_inner = self.lower_bound is None  # the lower-bound rule never reads d̃
        scratch = Scratch(params)
        diffs, inners, steps = [], [], []
        for p in params:
            state, g, buf = self.state[p], p.grad, scratch.like(p.grad)
            prev = state["prev_grad"]
            torch.sub(g, prev, out=buf)
            diffs.append(buf.abs_().sum(dtype=acc) if wide else torch.linalg.vector_norm(buf, 1))
            if wants_inner:
                inners.append(torch.sign(prev, out=buf).mul_(g).sum(dtype=acc))
            low, high = torch.aminmax(torch.sub(p, state["prev_param"], out=scratch.like(p)))
            steps.append(torch.maximum(high, low.neg()))  # ‖·‖_∞, exact
        if wide:
            n = len(params)
            values = torch.stack(diffs + [s.to(acc) for s in steps] + inners).tolist()
            diff_l1, step_inf, inner = sum(values[:n]), max(values[n : 2 * n]), sum(values[2 * n :])
        else:
            parts = [self._reduced(diffs, "l1"), self._reduced(steps, "max")]
            parts += [self._reduced(inners, "sum")] if wants_inner else []
            diff_l1, step_inf, *inner = torch.stack(parts).tolist()
            inner = inner[0] if inner else 0.0
        if step_inf > 0:
            st["S"] = r(st["S"] + self._div(diff_l1, step_inf))
        if wants_inner:
            self._add_to_distance(inner)

    def _add_to_distance(self, inner: float) -> None:
        """d̃ += γ_prev·inner, d = max(d, d̃)."""
        st, r = self.stats, self._round
        st["d_tilde"] = r(st["d_tilde"] + r(st["gamma_prev"] * inner))
        st["d"] = max(st["d"], st["d_tilde"])

    def _numerator(self) -> float:
        """d_t, or f(x_0) − f̃ for the lower-bound rule."""
        st = self.stats
        if self.lower_bound is None:
            return st["d"]
        if st["f0"] is None:
            raise RuntimeError(
                "ALIAS(lower_bound=...) needs f(x_0): call set_initial_loss(loss) or pass a "
                "closure to the first step()"
            )
        return max(self._round(st["f0"] - self._round(self.lower_bound)), 0.0)

    def _gamma(self) -> float:
        """γ = min(√(numerator/S), clamp); records γ before the clamp (∞ while S = 0)."""
        st = self.stats
        ratio = self._div(self._numerator(), st["S"]) if st["S"] > 0 else math.inf
        st["gamma_unclamped"] = self._sqrt(ratio)
        return min(st["gamma_unclamped"], self._round(self.clamp_level))

    def _store_previous(self, params: list[Tensor]) -> None:
        l1 = []
        for p in params:
            state = self.state[p]
            if self.sign_only_memory:
                if "prev_sign" not in state:
                    state["prev_sign"] = torch.empty_like(p, dtype=torch.int8)
                state["prev_sign"].copy_(torch.sign(p.grad))
                wide = self.float64_statistics
                l1.append(
                    p.grad.abs().sum(dtype=torch.float64) if wide else torch.linalg.vector_norm(p.grad, 1)
                )
            elif "prev_grad" not in state:
                state["prev_grad"] = p.grad.detach().clone()
                state["prev_param"] = p.detach().clone()
            else:
                state["prev_grad"].copy_(p.grad)
                state["prev_param"].copy_(p)
        if not l1:
            self.stats["prev_l1"] = 0.0
        elif self.float64_statistics:
            self.stats["prev_l1"] = sum(torch.stack(l1).tolist())
        else:
            self.stats["prev_l1"] = self._reduced(l1, "l1").item()

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
            st["alias_steps"] += 1
            st["clamped_steps"] += int(gamma == self._round(self.clamp_level))
        if on_gap:
            self._store_previous(params)
            st["gamma_prev"] = gamma
        for group in self.param_groups:
            if not warming_up:
                group["lr"] = gamma
            self._sign_update(group, float(group["lr"]))
        st["step"] = t + 1
        return loss

    def step_stats(self) -> dict[str, float]:
        """What the step size did at the last step: γ as used, γ before the clamp, S, the
        numerator d (d_t, or f(x_0) − f̃), and the fraction of post-warmup steps at the clamp."""
        st = self.stats
        if st["gamma"] is None:  # still warming up
            return {"alias/S": st["S"]}
        return {
            "alias/gamma": st["gamma"],
            "alias/gamma_unclamped": st["gamma_unclamped"],
            "alias/S": st["S"],
            "alias/d": self._numerator(),
            "alias/clamped_fraction": st["clamped_steps"] / st["alias_steps"],
        }

    def _sign_update(self, group: dict, gamma: float) -> None:
        """``x ← x(1 − γ wd) − γ sign(direction)`` over the group's tensors at once (foreach);
        ``.grad`` is used as scratch."""
        beta, damp, wd = group["momentum"], group["dampening"], group["weight_decay"]
        params = [p for p in group["params"] if p.grad is not None]
        if not params:
            return
        grads = [p.grad for p in params]
        if beta > 0 and self.heavy_ball:
            self._momentum(params, grads, beta, damp, group["nesterov"])
        if wd != 0:
            torch._foreach_mul_(params, 1.0 - self._round(gamma * wd))
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


class JointState(ChainMap):
    """The parts' ``state`` as one read-only mapping (looking a parameter up never creates an
    entry in a part's ``defaultdict``)."""

    def __getitem__(self, key: Any) -> Any:
        for part in self.maps:
            if key in part:
                return part[key]
        raise KeyError(key)


class ALIASWithAdamW(torch.optim.Optimizer):
    """The official ``AIDWithAdam`` (``parameter_free_signsgd.py``): :class:`ALIAS` on
    ``sign_params``, ``torch.optim.AdamW`` on ``adamw_params``, with the same ``lr`` (the AdamW lr,
    and ALIAS's during warmup) and ``weight_decay``; ``param_groups`` lists ALIAS's groups first,
    so a scheduler moves both and the first group's ``lr`` is γ. The official class shares one lr
    tensor between the two, so at the first step after warmup AdamW also steps with γ (a single
    step; not reproduced here).

    Args:
        sign_params, adamw_params: the two parts (``adamw_params`` may be empty).
        lr, weight_decay: as in the official constructor (``adam_lr``, ``weight_decay``).
        betas, eps: AdamW's (the official ``adam_betas``, ``adam_eps``).
        **alias_kwargs: the rest of :class:`ALIAS`'s arguments.
    """

    def __init__(
        self,
        sign_params: list[Tensor],
        adamw_params: list[Tensor],
        *,
        lr: float,
        weight_decay: float = 0.0,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        **alias_kwargs: Any,
    ) -> None:
        sign_params, adamw_params = list(sign_params), list(adamw_params)
        self.alias = ALIAS(sign_params, lr=lr, weight_decay=weight_decay, **alias_kwargs)
        self.adamw = (
            torch.optim.AdamW(adamw_params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
            if adamw_params
            else None
        )
        parts = [self.alias] + ([self.adamw] if self.adamw is not None else [])
        super().__init__(sign_params + adamw_params, {})
        self.param_groups = [g for part in parts for g in part.param_groups]
        self.state = JointState(*(part.state for part in parts))  # read by the memory meter

    def set_initial_loss(self, loss: float | Tensor) -> None:
        """f(x_0) for ALIAS's lower-bound rule."""
        self.alias.set_initial_loss(loss)

    def step_stats(self) -> dict[str, float]:
        """ALIAS's step size (:meth:`ALIAS.step_stats`)."""
        return self.alias.step_stats()

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """ALIAS's sign step, then AdamW's step, as ``AIDWithAdam.step`` (groups in that order)."""
        loss = self.alias.step(closure)
        if self.adamw is not None:
            self.adamw.step()
        return loss

    def state_dict(self) -> dict[str, Any]:
        """Both parts' state dicts."""
        adamw = self.adamw.state_dict() if self.adamw is not None else None
        return {"alias": self.alias.state_dict(), "adamw": adamw}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore both parts into the group dicts they had: torch's ``load_state_dict`` swaps in
        new ones, which this class's ``param_groups`` (the ones a scheduler moves) would not see."""
        for part, state in ((self.alias, state_dict["alias"]), (self.adamw, state_dict["adamw"])):
            if part is None:
                continue
            groups = part.param_groups
            part.load_state_dict(state)
            for group, loaded in zip(groups, part.param_groups, strict=True):
                group.update({k: v for k, v in loaded.items() if k != "params"})
            part.param_groups = groups
        parts = [p for p in (self.alias, self.adamw) if p is not None]
        self.state = JointState(*(part.state for part in parts))  # the parts' new state dicts
