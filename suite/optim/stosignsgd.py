"""StoSignSGD (Yu, Pan, Liu, Zhang; arXiv 2604.15416) and its sign-conversion framework.

Core operator (Eq. 2): ``S_G(g) = sign(g + G ⊙ n)`` with ``n ~ U[−1, 1]^d`` drawn fresh each
step and ``G ⪰ |g|``; then ``E[G ⊙ S_G(g)] = g`` because ``E[sign(a + G n)] = a/G`` for
``|a| ≤ G``. We sample exactly that way (a uniform draw, not the equivalent Bernoulli with
probability ``(1 + a/G)/2``); where ``G = 0`` we also have ``a = 0`` and the sign is 0.

Practical StoSignSGD (Alg. 3, as restated by the third-party formula page github.com/junaidaliop/zij,
``canon/math/stosignsgd.md``, with the decay β2 added):

    m_t = β1 m_{t−1} + (1 − β1) g_t
    G_t = max(β2 · G_{t−1}, |m_t|)
    x_{t+1} = x_t − η sign(m_t + G_t ⊙ n_t) − η λ x_t

*Assumed* (the text of Alg. 3 was not available): ``m_1 = g_1`` (the paper's own Signum baseline,
Alg. 5, starts that way), and that β2 decays the running max. Its default, 0.999, is the paper's
statement that β1 and β2 are the same for every optimizer it compares, at the defaults of its
fine-tuning toolkit (LMFlow = transformers: AdamW's 0.9, 0.999); β2 = 1 is a pure running max.

Sign conversion (Alg. 9): an optimizer ``x ← x − η m̂_t/σ_t − ηλx`` with ``σ_t ⪰ |m̂_t|`` becomes
``x ← x − η sign(m̂_t + σ_t ⊙ n_t) − ηλx``; :class:`SignConverted` does this for any
``moments`` rule and :class:`StoSignAdaMax` is the paper's example (AdaMax, σ = u + ε).

The noise comes from a ``torch.Generator`` per device that the optimizer owns (``seed``) and
saves in ``state_dict``. Gradients are used as scratch space: after ``step()`` they hold the
applied sign.

Under ``torchrun`` the optimizer's ``vote`` (set by suite/distributed.py) replaces the noisy signs
by the ranks' majority vote before they are applied: each rank keeps its own m and G and draws its
own noise (the method's ``seed`` per rank), as the paper's contributions list puts it, structural
noise keeps the compressed signs unbiased in distributed training.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from suite.optim._fused import register_fused_updates
from suite.optim.signsgd import Vote, apply_sign, default_foreach

__all__ = ["SignConverted", "StoSignAdaMax", "StoSignSGD", "stochastic_sign_"]


def stochastic_sign_(
    out: Tensor, m: Tensor, sigma: Tensor, generator: torch.Generator, m_scale: float = 1.0
) -> Tensor:
    """Write ``sign(m_scale·m + σ ⊙ n)``, ``n ~ U[−1, 1]``, into ``out`` (Eq. 2's S_σ)."""
    out.uniform_(-1.0, 1.0, generator=generator)
    if m_scale == 1.0:
        torch.addcmul(m, sigma, out, out=out)
    else:
        out.mul_(sigma).add_(m, alpha=m_scale)
    return out.sign_()


class _GeneratorMixin:
    """One seeded generator per device, saved and restored with the optimizer."""

    seed: int
    generators: dict[str, torch.Generator]

    def generator_for(self, device: torch.device) -> torch.Generator:
        key = str(device)
        if key not in self.generators:
            self.generators[key] = torch.Generator(device=device).manual_seed(self.seed)
        return self.generators[key]

    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state plus the generators' states."""
        sd = super().state_dict()
        sd["generators"] = {k: g.get_state() for k, g in self.generators.items()}
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the optimizer's state and the generators."""
        state_dict = dict(state_dict)
        gens = state_dict.pop("generators")
        super().load_state_dict(state_dict)
        for key, state in gens.items():
            self.generator_for(torch.device(key)).set_state(state)


class StoSignSGD(_GeneratorMixin, torch.optim.Optimizer):
    """StoSignSGD (Alg. 3 with the assumptions in the module docstring).

    Args:
        params: parameters or parameter groups.
        lr: η.
        betas: (β1, β2): momentum and the decay of the running max G (β2 = 1: pure max).
        weight_decay: decoupled λ.
        seed: seed of the noise generators.
        foreach: as in :class:`suite.optim.SignSGD` (None: foreach on CUDA, per-tensor on CPU).
        fused_backward: update inside backward and free each gradient at once.

    State per parameter: ``exp_avg`` (m) and ``max_avg`` (G), in the parameter dtype.
    ``vote``: None in one process; under torchrun, what combines the ranks' signs in ``step``.
    """

    vote: Vote | None = None

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        weight_decay: float = 0.0,
        *,
        seed: int = 0,
        foreach: bool | None = None,
        fused_backward: bool = False,
    ) -> None:
        if lr < 0 or weight_decay < 0:
            raise ValueError(f"lr and weight_decay must be >= 0, got {lr}, {weight_decay}")
        if not (0.0 <= betas[0] < 1.0 and 0.0 < betas[1] <= 1.0):
            raise ValueError(f"betas must satisfy 0 <= beta1 < 1 and 0 < beta2 <= 1, got {betas}")
        defaults = dict(lr=lr, betas=tuple(betas), weight_decay=weight_decay, foreach=foreach)
        super().__init__(params, defaults)
        self.seed = seed
        self.generators = {}
        self.fused_backward = fused_backward
        self._handles = register_fused_updates(self, self._update_one) if fused_backward else []

    def _init_group(self, group: dict) -> tuple[list[Tensor], list[Tensor], list, list]:
        params, grads, ms, gs = [], [], [], []
        for p in group["params"]:
            if p.grad is None:
                continue
            params.append(p)
            grads.append(p.grad)
            ms.append(self.state[p].get("exp_avg"))
            gs.append(self.state[p].get("max_avg"))
        return params, grads, ms, gs

    def _run(self, group: dict, params, grads, ms, gs, foreach: bool, vote: Vote | None = None) -> None:
        stosignsgd(
            params,
            grads,
            ms,
            gs,
            generator_for=self.generator_for,
            lr=group["lr"],
            beta1=group["betas"][0],
            beta2=group["betas"][1],
            weight_decay=group["weight_decay"],
            foreach=foreach,
            vote=vote,
        )
        for p, m, g in zip(params, ms, gs, strict=True):
            self.state[p]["exp_avg"] = m
            self.state[p]["max_avg"] = g

    def _update_one(self, group: dict, p: Tensor) -> None:
        st = self.state[p]
        self._run(group, [p], [p.grad], [st.get("exp_avg")], [st.get("max_avg")], foreach=False)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """One StoSignSGD step on every parameter with a gradient (no-op if fused_backward)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if self.fused_backward:
            return loss
        for group in self.param_groups:
            params, grads, ms, gs = self._init_group(group)
            if params:
                foreach = group["foreach"]
                self._run(
                    group,
                    params,
                    grads,
                    ms,
                    gs,
                    default_foreach(params) if foreach is None else foreach,
                    self.vote,
                )
        return loss


def stosignsgd(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor | None],
    max_avgs: list[Tensor | None],
    *,
    generator_for: Callable[[torch.device], torch.Generator],
    lr: float,
    beta1: float,
    beta2: float,
    weight_decay: float,
    foreach: bool,
    vote: Vote | None = None,
) -> None:
    """Functional StoSignSGD. Missing states are created (m_1 = g_1, G_1 = |g_1|) in the lists;
    ``grads`` are overwritten with the applied sign (``vote``: the ranks' vote on it, before it is
    applied). Noise is drawn tensor by tensor in list order, so both paths consume the generator
    identically."""
    fn = _multi_tensor_stosignsgd if foreach else _single_tensor_stosignsgd
    fn(
        params,
        grads,
        exp_avgs,
        max_avgs,
        generator_for=generator_for,
        lr=lr,
        beta1=beta1,
        beta2=beta2,
        weight_decay=weight_decay,
        vote=vote,
    )


def _single_tensor_stosignsgd(
    params, grads, exp_avgs, max_avgs, *, generator_for, lr, beta1, beta2, weight_decay, vote
) -> None:
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        m, big = exp_avgs[i], max_avgs[i]
        if m is None:
            m = exp_avgs[i] = g.detach().clone()
            big = max_avgs[i] = g.detach().abs()
        else:
            m.lerp_(g, 1.0 - beta1)
            if beta2 != 1.0:
                big.mul_(beta2)
            torch.maximum(big, torch.abs(m, out=g), out=big)
        stochastic_sign_(g, m, big, generator_for(p.device))
        if vote is None:  # one pass per tensor, while it is in cache
            apply_sign(p, g, lr, weight_decay)
    if vote is not None:
        vote(grads)
        for p, g in zip(params, grads, strict=True):
            apply_sign(p, g, lr, weight_decay)


def _multi_tensor_stosignsgd(
    params, grads, exp_avgs, max_avgs, *, generator_for, lr, beta1, beta2, weight_decay, vote
) -> None:
    fresh = [i for i, m in enumerate(exp_avgs) if m is None]
    for i in fresh:
        exp_avgs[i] = grads[i].detach().clone()
        max_avgs[i] = grads[i].detach().abs()
    fresh_set = set(fresh)
    old = [i for i in range(len(params)) if i not in fresh_set]
    if old:
        ms = [exp_avgs[i] for i in old]
        bigs = [max_avgs[i] for i in old]
        gs = [grads[i] for i in old]
        torch._foreach_lerp_(ms, gs, 1.0 - beta1)
        if beta2 != 1.0:
            torch._foreach_mul_(bigs, beta2)
        torch._foreach_copy_(gs, ms)
        torch._foreach_abs_(gs)
        torch._foreach_maximum_(bigs, gs)
    for p, g in zip(params, grads, strict=True):
        g.uniform_(-1.0, 1.0, generator=generator_for(p.device))
    torch._foreach_mul_(grads, max_avgs)
    torch._foreach_add_(grads, exp_avgs)
    torch._foreach_sign_(grads)
    if vote is not None:
        vote(grads)
    if weight_decay != 0:
        torch._foreach_mul_(params, 1.0 - lr * weight_decay)
    torch._foreach_add_(params, grads, alpha=-lr)


Moments = Callable[[Tensor, dict, dict], tuple[Tensor, float, Tensor]]


class SignConverted(_GeneratorMixin, torch.optim.Optimizer):
    """Alg. 9: turn ``x ← x − η m̂/σ − ηλx`` (with σ ⪰ |m̂|) into
    ``x ← x − η sign(m̂ + σ ⊙ n) − ηλx``, n ~ U[−1, 1]; in expectation the step is η·m̂/σ
    (clipped to [−1, 1] where σ < |m̂|).

    Subclasses implement :meth:`moments`: update the state from the gradient and return
    ``(m, c, σ)`` with ``m̂ = c·m`` (a scalar c, e.g. a bias correction, avoids a temporary).
    Per-tensor only: this is the general framework, not a fast path.
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], defaults: dict, *, seed: int = 0) -> None:
        defaults.setdefault("weight_decay", 0.0)
        super().__init__(params, defaults)
        self.seed = seed
        self.generators = {}

    def moments(self, grad: Tensor, state: dict, group: dict) -> tuple[Tensor, float, Tensor]:
        raise NotImplementedError

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """One sign-converted step on every parameter with a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, wd = group["lr"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                m, c, sigma = self.moments(p.grad, self.state[p], group)
                stochastic_sign_(p.grad, m, sigma, self.generator_for(p.device), m_scale=c)
                if wd != 0:
                    p.mul_(1.0 - lr * wd)
                p.add_(p.grad, alpha=-lr)
        return loss


class StoSignAdaMax(SignConverted):
    """AdaMax converted by Alg. 9 (the paper's example): ``m_t = β1 m + (1−β1) g``,
    ``m̂_t = m_t/(1−β1^t)``, ``u_t = max(β2 u_{t−1}, |g_t|)``, ``σ_t = u_t + ε``, then
    ``x ← x − η sign(m̂_t + σ_t ⊙ n) − ηλx``."""

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        *,
        seed: int = 0,
    ) -> None:
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] <= 1.0):
            raise ValueError(f"betas must lie in [0, 1) x [0, 1], got {betas}")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)
        super().__init__(params, defaults, seed=seed)

    def moments(self, grad: Tensor, state: dict, group: dict) -> tuple[Tensor, float, Tensor]:
        beta1, beta2 = group["betas"]
        if not state:
            state["step"] = torch.tensor(0.0)
            state["exp_avg"] = torch.zeros_like(grad)
            state["exp_inf"] = torch.zeros_like(grad)
        state["step"] += 1
        m, u = state["exp_avg"], state["exp_inf"]
        m.lerp_(grad, 1.0 - beta1)
        torch.maximum(u.mul_(beta2), grad.abs(), out=u)
        c = 1.0 / (1.0 - beta1 ** float(state["step"]))
        return m, c, u + group["eps"]
