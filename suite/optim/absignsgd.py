"""ABSignSGD: block-coordinate SignSGD with depth-biased block selection (Zhou & Pu, ICLR'26).

Alg. 1: at step k pick one block i_k and set ``x_{i_k} ← x_{i_k} − α·sign(g_{i_k}(x))``; every
other block stays fixed and there is no optimizer state. Weight decay comes first,
``p ← p − α·λ·p``, in place, in the model dtype (no fp32 master copy), as the reference
``yijiezcn/ABSignSGD/absignsgd.py`` does. ABSignSGD-MV (majority vote) replaces ``sign(g)`` by
``sign(Σ_j sign(g^j))`` over the ranks of ``torch.distributed``.

Only the active block has ``requires_grad=True`` (every other parameter: ``requires_grad=False``,
``grad=None``), so backward stops at the lowest active layer. The first block is prepared in
``__init__``; ``step()`` updates the active block, then selects and prepares the next one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from suite.blocks import find_blocks
from suite.optim._fused import register_fused_updates
from suite.optim.signsgd import default_foreach

__all__ = [
    "ABSignSGD",
    "ABSignSGDMV",
    "DepthBiasedSchedule",
    "nonfinite_flags",
    "step_size",
    "outside_blocks_trained",
    "record_found_inf",
]

SCHEMES = ("depth_biased", "uniform", "cyclic")
Selector = Callable[[int, int], int]


class DepthBiasedSchedule:
    """The reference's event-driven depth-biased rule (``_select_block_depth_biased`` in
    github.com/yijiezcn/ABSignSGD, ``absignsgd.py``; the paper's τ_i = N + c(N−i+1), OpenReview NQsdnYkCar).

    ``τ_i = N + c·(N−i)`` for i = 0..N−1 (layer 0 nearest the input); each pick is
    ``s = argmin τ`` (ties to the lowest index) followed by ``τ_s += N + c·(N−s)``. Deterministic;
    the first pick is the top layer N−1, and layer i is picked with frequency ∝ 1/(N + c(N−i)).
    """

    def __init__(self, num_blocks: int, depth_bias: float) -> None:
        self.num_blocks = num_blocks
        self.depth_bias = float(depth_bias)
        self.tau = [self._period(i) for i in range(num_blocks)]

    def _period(self, i: int) -> float:
        return self.num_blocks + self.depth_bias * (self.num_blocks - i)

    def next(self) -> int:
        s = min(range(self.num_blocks), key=lambda i: (self.tau[i], i))
        self.tau[s] += self._period(s)
        return s


@functools.lru_cache(maxsize=64)
def step_size(lr: float, dtype: torch.dtype) -> float:
    """``-lr * sign(g)`` is ±this where g ≠ 0: lr rounded as torch rounds ``-lr * t`` for a tensor
    t of ``dtype`` (so ``p.add_(sign(g), alpha=step_size)`` adds exactly the reference's step)."""
    return float(-lr * torch.ones((), dtype=dtype))


def nonfinite_flags(grads: list[Tensor]) -> tuple[bool, bool]:
    """(any NaN, any ±inf) over ``grads``: the reference skips the update on NaN only."""
    has_nan = any(bool(torch.isnan(g).any()) for g in grads)
    has_inf = any(bool(torch.isinf(g).any()) for g in grads)
    return has_nan, has_inf


def record_found_inf(scaler: torch.amp.GradScaler, found: bool, device: torch.device) -> None:
    """Tell ``scaler.update()`` whether this step overflowed, as the reference does: unscale a
    throw-away one-element optimizer whose gradient is inf (overflow) or 1.0. The real gradients
    are never unscaled: the sign does not need it."""
    dummy = nn.Parameter(torch.zeros(1, device=device))
    dummy.grad = torch.full((1,), float("inf") if found else 1.0, device=device)
    scaler.unscale_(torch.optim.SGD([dummy], lr=0.0))


def _check_arguments(
    selection_scheme: str | Selector,
    lr: float,
    weight_decay: float,
    gradient_clipping: float | None,
    fp16: bool,
    fused_backward: bool,
) -> None:
    """Refuse, with one line, the :class:`ABSignSGD` arguments that cannot run."""
    if not callable(selection_scheme) and selection_scheme not in SCHEMES:
        raise ValueError(
            f"unknown selection_scheme {selection_scheme!r}; allowed: {', '.join(SCHEMES)} "
            "or a callable (step, num_blocks) -> block index"
        )
    if gradient_clipping is not None and gradient_clipping < 0:
        raise ValueError(f"gradient_clipping must be None or >= 0, got {gradient_clipping}")
    if lr < 0 or weight_decay < 0:
        raise ValueError(f"lr and weight_decay must be >= 0, got {lr}, {weight_decay}")
    if fp16 and fused_backward:
        raise ValueError("fused_backward=True needs fp16=False (NaN skip needs the whole block)")


def outside_blocks_trained(
    model: nn.Module, blocks: list[list[nn.Parameter]], train_embeddings: bool, train_head: bool
) -> list[nn.Parameter]:
    """The parameters outside every block that are updated at every step, in model order, each once
    (tied weights are one parameter): the input embeddings if ``train_embeddings``, every other
    non-block parameter (LM head, final norm) if ``train_head``. The reference trains neither."""
    in_blocks = {id(p) for b in blocks for p in b}
    embed = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    embed_ids = {id(p) for p in embed.parameters()} if embed is not None else set()
    always: list[nn.Parameter] = []
    for p in model.parameters():
        if id(p) in in_blocks or any(p is q for q in always):
            continue
        is_embed = id(p) in embed_ids
        if (is_embed and train_embeddings) or (not is_embed and train_head):
            always.append(p)
    return always


class ABSignSGD(torch.optim.Optimizer):
    """ABSignSGD (Alg. 1), constructor drop-in compatible with the reference.

    Args:
        model: the model (not its parameters): blocks come from ``suite.blocks.find_blocks``.
        lr: α, read from ``param_groups[0]["lr"]`` each step, so LR schedulers work.
        depth_bias: c of the depth-biased schedule (10.0 is the paper value).
        selection_scheme: "depth_biased", "uniform" (i.i.d. from the optimizer's own generator,
            saved in ``state_dict``), "cyclic" (N−1, N−2, …, 0, N−1, …) or a callable
            ``f(step, num_blocks) -> block index`` (its own state is not saved).
        fp16: keep ``self.scaler``, a ``torch.amp.GradScaler`` for the model's device type
            ("cuda" as in the reference; on CPU a CPU scaler, so the path runs and is tested
            here). The loop does ``scaler.scale(loss).backward(); opt.step(); scaler.update()``.
            A NaN in the block's gradient skips the update; inf alone is still applied
            (sign(±inf) = ±1), as in the reference. The scale backs off on inf *and* on NaN
            (the reference backs off on inf only, so a NaN step there keeps its scale: a
            deliberate difference, since NaN from fp16 overflow is what backing off cures).
            With ``sign=False`` the gradient is unscaled and any NaN or inf skips the step.
        weight_decay: λ, decoupled and applied first (reference default 0.01).
        gradient_clipping: accepted for compatibility; clipping by norm multiplies by a positive
            scalar and cannot change sign(g), so it is validated and otherwise ignored.
        train_embeddings: keep the input embeddings trainable (updated every step).
        train_head: keep the LM head, final norm and every other non-block parameter trainable
            (updated every step). Both make backward reach the bottom every step.
        seed: seed of the generator of the "uniform" scheme (same on every rank for MV).
        foreach: as in :class:`suite.optim.SignSGD`.
        sign: False replaces ``sign(g)`` by ``g`` (block-coordinate gradient descent), the
            paper's ablation of the sign inside the block scheme.
        fused_backward: update each parameter of the active block inside backward and free its
            gradient at once; the next block is selected at the end of backward, ``step()`` does
            nothing. Not with fp16 (the NaN skip needs the whole block's gradient).
    """

    def __init__(
        self,
        model: nn.Module,
        lr: float = 1e-3,
        depth_bias: float = 10.0,
        selection_scheme: str | Selector = "depth_biased",
        fp16: bool = True,
        weight_decay: float = 0.01,
        gradient_clipping: float | None = None,
        *,
        train_embeddings: bool = False,
        train_head: bool = False,
        seed: int = 0,
        foreach: bool | None = None,
        sign: bool = True,
        fused_backward: bool = False,
    ) -> None:
        _check_arguments(selection_scheme, lr, weight_decay, gradient_clipping, fp16, fused_backward)
        self.model = model
        self.blocks: list[list[nn.Parameter]] = [list(b.parameters()) for b in find_blocks(model)]
        always = outside_blocks_trained(model, self.blocks, train_embeddings, train_head)
        self.always_trained = always
        self._updated = [b + always for b in self.blocks]
        params = [p for b in self.blocks for p in b] + always
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, foreach=foreach))

        self.depth_bias = depth_bias
        self.selection_scheme = selection_scheme
        self.gradient_clipping = gradient_clipping
        self.sign = sign
        self.num_blocks = len(self.blocks)
        self.schedule = DepthBiasedSchedule(self.num_blocks, depth_bias)
        self.generator = torch.Generator().manual_seed(seed)
        self.num_selections = 0
        self.active_block = -1
        self.fp16 = fp16
        device = next(model.parameters()).device
        self.scaler = torch.amp.GradScaler(device.type) if fp16 else None
        self.fused_backward = fused_backward
        self._handles = (
            register_fused_updates(self, self._update_one, on_backward_end=self._advance)
            if fused_backward
            else []
        )
        self._advance()

    # --- block selection -------------------------------------------------------------------
    def _select(self) -> int:
        k = self.num_selections
        scheme = self.selection_scheme
        if callable(scheme):
            i = int(scheme(k, self.num_blocks))
        elif scheme == "depth_biased":
            i = self.schedule.next()
        elif scheme == "uniform":
            i = int(torch.randint(self.num_blocks, (1,), generator=self.generator))
        else:
            i = self.num_blocks - 1 - k % self.num_blocks
        if not 0 <= i < self.num_blocks:
            raise ValueError(f"selection_scheme returned block {i}; allowed 0..{self.num_blocks - 1}")
        self.num_selections += 1
        return i

    def _prepare(self, i: int) -> None:
        """Make block ``i`` (plus the always-trained parameters) the only ones requiring grad.

        The first call sets every model parameter; later ones only switch the previous block off
        and block ``i`` on (per-parameter Python is the step's main overhead on small models)."""
        if self.active_block < 0:
            trainable = {id(p) for p in self._updated[i]}
            for p in self.model.parameters():
                p.requires_grad_(id(p) in trainable)
                if id(p) not in trainable:
                    p.grad = None
        elif i != self.active_block:
            for p in self.blocks[self.active_block]:
                p.requires_grad_(False)
                p.grad = None
            for p in self.blocks[i]:
                p.requires_grad_(True)
        self.active_block = i

    def _advance(self) -> None:
        self._prepare(self._select())

    def active_params(self) -> list[nn.Parameter]:
        """The parameters updated at this step: the active block and the always-trained ones."""
        return self._updated[self.active_block]

    # --- update ----------------------------------------------------------------------------
    def _aggregate(self, grads: list[Tensor]) -> None:
        """Hook for ABSignSGD-MV: replace ``grads`` in place by the direction to take."""

    def _update(self, params: list[Tensor], foreach: bool) -> None:
        """The reference's arithmetic, bit for bit in fp32 and bf16: ``p.add_(-lr*wd*p)`` (the
        product rounded to p's dtype before the add), then ``p.add_(-lr*sign(g))``, whose step
        ``-lr*sign(g)`` is ±``step_size`` exactly, applied here as ``add_(sign(g), alpha=...)``
        without a temporary. ``sign=False`` steps along ``g`` instead (``add_(-lr*g)``)."""
        group = self.param_groups[0]
        lr, wd = group["lr"], group["weight_decay"]
        grads = [p.grad for p in params]
        if self.sign:
            self._aggregate(grads)
            if foreach:
                torch._foreach_sign_(grads)
            else:
                for g in grads:
                    g.sign_()
        else:
            for g in grads:
                g.mul_(-lr)
        if wd != 0:
            for p in params:
                p.add_(-lr * wd * p)
        for p, g in zip(params, grads, strict=True):
            p.add_(g, alpha=step_size(lr, p.dtype) if self.sign else 1.0)

    def _check_fp16(self, params: list[Tensor]) -> bool:
        """Feed the scaler this step's overflow (NaN or inf) and say whether to skip the update:
        on NaN for the sign step (sign(±inf) = ±1 is still a step), on NaN or inf for
        ``sign=False``, whose gradients are unscaled here (``g / scale``, as
        ``GradScaler.unscale_``) because the step uses their size."""
        grads = [p.grad for p in params]
        has_nan, has_inf = nonfinite_flags(grads)
        record_found_inf(self.scaler, has_nan or has_inf, params[0].device if params else "cpu")
        skip = has_nan or (has_inf and not self.sign)
        if not self.sign and not skip and grads:
            torch._foreach_mul_(grads, 1.0 / self.scaler.get_scale())
        return skip

    def _update_one(self, group: dict, p: Tensor) -> None:
        self._update([p], foreach=False)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """Update the active block (skipped on a NaN gradient with fp16), then select and prepare
        the next block. A no-op with ``fused_backward`` (the update ran inside backward)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if self.fused_backward:
            return loss
        params = [p for p in self._updated[self.active_block] if p.grad is not None]
        skip = self.scaler is not None and self.scaler.is_enabled() and self._check_fp16(params)
        if params and not skip:
            foreach = self.param_groups[0]["foreach"]
            self._update(params, default_foreach(params) if foreach is None else foreach)
        self._advance()
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradient of every model parameter (as the reference does)."""
        for p in self.model.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.zero_()

    # --- checkpointing ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The base optimizer's state plus the schedule, counters, RNG and GradScaler state."""
        sd = super().state_dict()
        sd["selection"] = {
            "tau": list(self.schedule.tau),
            "num_selections": self.num_selections,
            "active_block": self.active_block,
            "generator": self.generator.get_state(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
        }
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore everything :meth:`state_dict` saved and prepare the saved active block."""
        state_dict = dict(state_dict)
        sel = state_dict.pop("selection")
        super().load_state_dict(state_dict)
        self.schedule.tau = list(sel["tau"])
        self.num_selections = sel["num_selections"]
        self.generator.set_state(sel["generator"])
        if self.scaler is not None and sel["scaler"] is not None:
            self.scaler.load_state_dict(sel["scaler"])
        self.active_block = -1
        self._prepare(sel["active_block"])


class ABSignSGDMV(ABSignSGD):
    """ABSignSGD-MV: every rank picks the same block (the schedules are deterministic or share
    ``seed``), sends ``sign(g)`` of its block as int8, all-reduces the SUM and steps
    ``x ← x − α·sign(Σ_j sign(g^j))`` (a tie gives 0: no move). In one process the sum is the
    rank's own sign, so it equals ABSignSGD. Do not wrap the model in DDP (its gradient averaging
    would replace the vote); run one process per rank under ``torchrun`` (gloo or nccl).

    ``fp16`` is refused: each rank's NaN check would let ranks skip different steps. NaN entries
    vote 0.
    """

    def __init__(self, model: nn.Module, lr: float = 1e-3, *, fp16: bool = False, **kwargs: Any):
        if fp16:
            raise ValueError("ABSignSGDMV needs fp16=False; use bf16 or fp32 weights")
        super().__init__(model, lr, fp16=False, **kwargs)

    def _aggregate(self, grads: list[Tensor]) -> None:
        world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        vote_dtype = torch.int8 if world <= 127 else torch.int32
        for g in grads:
            votes = torch.sign(torch.nan_to_num(g, nan=0.0)).to(vote_dtype)
            if world > 1:
                dist.all_reduce(votes, op=dist.ReduceOp.SUM)
            g.copy_(votes.sign_())
