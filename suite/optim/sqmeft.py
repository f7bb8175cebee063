"""SQ-MEFT (Zhao, Bai, Li, Wang): sign momentum with 4-bit state, updated inside backward.

Alg. 1, per parameter tensor θ as soon as its gradient g is ready (lines 5–12):

    m ← decompress(m̄);  m ← β m + (1 − β) g;  u = η · max(rms_floor, RMS(θ_{t−1}));
    θ ← θ − u · sign(m);  m̄ ← compress(m);  g ← None

RMS is per tensor, √mean(θ²) of the previous iterate. The floor (AdaLomo's ``max(1e-3, RMS)``)
is our choice, not the paper's, to move zero-initialised tensors; ``rms_floor=0`` disables it.
No bias correction, ε or weight decay (the paper has none); m starts at 0.

Compression: block-wise (B = 128) 4-bit quantisation with the signed dynamic-exponent map of the
4-bit optimizers paper (ref. [11] of SQ-MEFT), via torchao's ``OptimState4bit`` (runs on CPU):
0.5 B/param of codes + 4 B per block of scale ≈ 0.53 B/param, plus a 64-byte map per tensor.
As in torchao and bitsandbytes, tensors with fewer than ``min_quant_numel`` elements, or whose
size is not a multiple of B, keep m in fp32 (norm weights: a negligible share of the model).

bf16 trap: with bf16 weights and no fp32 master copy, ``u = η·RMS(θ)`` is often below half a bf16
ULP of θ (e.g. 8e-5 × 0.02 against |θ| ≈ 0.02, ULP ≈ 1.2e-4) and the update is silently lost.
``stochastic_rounding=True`` rounds ``θ − u·sign(m)`` (computed in fp32) to bf16 stochastically,
unbiased in expectation, from a generator the optimizer owns and saves.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor
from torchao.optim.quant_utils import quantize_4bit_with_qmap, scale_tensor
from torchao.optim.subclass_4bit import OptimState4bit

from suite.optim._fused import register_fused_updates

__all__ = ["SQMEFT", "quantize_into_", "sqmeft_step", "state_nbytes"]


def state_nbytes(t: Tensor) -> int:
    """Bytes really stored by a state tensor: a 4-bit subclass counts its inner tensors."""
    if isinstance(t, OptimState4bit):
        return sum(x.untyped_storage().nbytes() for x in (t.codes, t.scale, t.qmap))
    return t.untyped_storage().nbytes()


def round_to_bf16_stochastic_(out: Tensor, value: Tensor, generator: torch.Generator) -> None:
    """Write fp32 ``value`` into bf16 ``out`` with stochastic rounding (unbiased)."""
    bits = value.contiguous().view(torch.int32)
    noise = torch.randint(0, 1 << 16, value.shape, generator=generator, device=value.device)
    bits = (bits + noise.to(torch.int32)) & -65536
    out.copy_(bits.view(torch.float32))


def sqmeft_step(
    p: Tensor,
    grad: Tensor,
    m: Tensor,
    lr: float,
    *,
    beta: float,
    rms_floor: float,
    sign: bool,
    rms_scaled: bool,
) -> Tensor:
    """Alg. 1 lines 7–9 on the fp32 momentum ``m`` (updated in place); returns the fp32 step
    ``u·sign(m)`` (or ``u·m``) that the caller subtracts from ``p``."""
    m.lerp_(grad.float(), 1.0 - beta)
    u = lr
    if rms_scaled:
        rms = torch.linalg.vector_norm(p, dtype=torch.float32) / math.sqrt(p.numel())
        u = lr * torch.clamp(rms, min=rms_floor)
    return (torch.sign(m) if sign else m) * u


def quantize_into_(
    state: OptimState4bit, m: Tensor, quantize: Callable[[Tensor, Tensor], Tensor] = quantize_4bit_with_qmap
) -> None:
    """``state.copy_(m)`` as torchao's ``OptimState4bit`` does it (block absmax scale, nearest code
    of the map, two codes per byte), with the quantiser passed in (e.g. ``torch.compile``d)."""
    scaled, scale = scale_tensor(m.view(-1), state.block_size)
    codes = quantize(scaled, state.qmap)
    state.codes.copy_((codes[::2] << 4) | codes[1::2])
    state.scale.copy_(scale)


class SQMEFT(torch.optim.Optimizer):
    """SQ-MEFT (Alg. 1). Updates run inside backward by default (``fused_backward=True``): the
    training loop must not accumulate gradients and must not call ``step()`` for updates.

    Args:
        params: parameters or parameter groups.
        lr: η (paper ablation: 8e-5 for LLaMA-7B).
        beta: β (paper: best 0.94–0.96).
        rms_floor: lower bound on RMS(θ) (AdaLomo's 1e-3; 0 disables).
        block_size: B of the 4-bit quantisation (128).
        min_quant_numel: tensors smaller than this keep m in fp32 (torchao/bnb: 4096).
        quantize: False keeps every m in fp32 (for ablations).
        stochastic_rounding: stochastic rounding of bf16 parameters (see module docstring).
        sign: False steps along m instead of sign(m) (the paper's Table V ablation).
        rms_scaled: False makes the step u = η instead of η·RMS(θ) (Table V ablation).
        seed: seed of the stochastic-rounding generator.
        compile: ``torch.compile`` torchao's 4-bit quantiser (its branchless binary search over
            the map, the update's bottleneck in eager mode: ~12x faster on CPU, same codes bit
            for bit), as torchao compiles its own 4-bit optimizers. Costs ~5 s once per process;
            the rest of the update stays eager. (Compiling the whole update took 24–34 s per
            tensor shape on CPU with torch 2.13, and did not finish in 400 s with dynamic shapes.)
        fused_backward: False makes ``step()`` do the update instead (per tensor, same rule).
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float = 1e-3,
        beta: float = 0.95,
        rms_floor: float = 1e-3,
        *,
        block_size: int = 128,
        min_quant_numel: int = 4096,
        quantize: bool = True,
        stochastic_rounding: bool = False,
        seed: int = 0,
        sign: bool = True,
        rms_scaled: bool = True,
        compile: bool = False,
        fused_backward: bool = True,
    ) -> None:
        if lr < 0 or rms_floor < 0:
            raise ValueError(f"lr and rms_floor must be >= 0, got {lr}, {rms_floor}")
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"beta must be in [0, 1), got {beta}")
        if block_size < 2 or block_size % 2:
            raise ValueError(f"block_size must be an even number >= 2, got {block_size}")
        super().__init__(params, dict(lr=lr, beta=beta, rms_floor=rms_floor))
        self.block_size = block_size
        self.min_quant_numel = min_quant_numel
        self.quantize = quantize
        self.stochastic_rounding = stochastic_rounding
        self.seed = seed
        self.sign = sign
        self.rms_scaled = rms_scaled
        self.generators: dict[str, torch.Generator] = {}
        self.compile = compile
        self._quantize = (
            torch.compile(quantize_4bit_with_qmap, dynamic=True) if compile else quantize_4bit_with_qmap
        )
        self.fused_backward = fused_backward
        self._handles = register_fused_updates(self, self._update_one) if fused_backward else []

    def _new_momentum(self, p: Tensor) -> Tensor:
        n = p.numel()
        if self.quantize and n >= self.min_quant_numel and n % self.block_size == 0:
            return OptimState4bit.zeros(p.shape, True, self.block_size, device=p.device)
        return torch.zeros_like(p, dtype=torch.float32)

    def _generator(self, device: torch.device) -> torch.Generator:
        key = str(device)
        if key not in self.generators:
            self.generators[key] = torch.Generator(device=device).manual_seed(self.seed)
        return self.generators[key]

    def _update_one(self, group: dict, p: Tensor) -> None:
        """Alg. 1 lines 6–11 for one tensor; ``p.grad`` is left for the caller to free."""
        state = self.state[p]
        if "exp_avg" not in state:
            state["exp_avg"] = self._new_momentum(p)
        stored = state["exp_avg"]
        lr = group["lr"]
        rule = dict(
            beta=group["beta"], rms_floor=group["rms_floor"], sign=self.sign, rms_scaled=self.rms_scaled
        )
        rounding = self.stochastic_rounding and p.dtype == torch.bfloat16
        quantized = isinstance(stored, OptimState4bit)
        m = stored.dequantize() if quantized else stored
        step = sqmeft_step(p, p.grad, m, lr, **rule)
        if rounding:
            round_to_bf16_stochastic_(p, p.float() - step, self._generator(p.device))
        else:
            p.sub_(step.to(p.dtype))
        if quantized:
            quantize_into_(stored, m, self._quantize)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """With ``fused_backward=False``: update every parameter with a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if self.fused_backward:
            return loss
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update_one(group, p)
        return loss

    def state_dict(self) -> dict[str, Any]:
        """4-bit momenta are saved as (codes, scale) tensors, plus the generators' states."""
        sd = super().state_dict()
        packed = {}
        for key, st in sd["state"].items():
            m = st["exp_avg"]
            if isinstance(m, OptimState4bit):
                st = dict(st, exp_avg={"codes": m.codes.clone(), "scale": m.scale.clone()})
            packed[key] = st
        sd["state"] = packed
        sd["generators"] = {k: g.get_state() for k, g in self.generators.items()}
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the momenta (4-bit ones bit-exactly) and the generators."""
        state_dict = dict(state_dict)
        gens = state_dict.pop("generators")
        saved = state_dict["state"]
        state_dict["state"] = {k: {} for k in saved}
        super().load_state_dict(state_dict)
        params = [p for g in self.param_groups for p in g["params"]]
        for key, st in saved.items():
            p = params[key]
            m = st["exp_avg"]
            if isinstance(m, dict):
                q = OptimState4bit.zeros(p.shape, True, self.block_size, device=p.device)
                q.codes.copy_(m["codes"])
                q.scale.copy_(m["scale"])
                m = q
            else:
                m = m.to(device=p.device, dtype=torch.float32).clone()
            self.state[p] = {"exp_avg": m}
        for key, st in gens.items():
            self._generator(torch.device(key)).set_state(st)
