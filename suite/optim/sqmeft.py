"""SQ-MEFT (Zhao, Bai, Li, Wang): sign momentum with 4-bit state, updated inside backward.

Alg. 1, per parameter tensor θ as soon as its gradient g is ready (lines 5–12):

    m ← decompress(m̄);  m ← β m + (1 − β) g;  u = η · max(rms_floor, RMS(θ_{t−1}));
    θ ← θ − u · sign(m);  m̄ ← compress(m);  g ← None

RMS is per tensor, √mean(θ²) of the previous iterate. The floor (AdaLomo's ``max(1e-3, RMS)``)
is our choice, not the paper's, to move zero-initialised tensors; ``rms_floor=0`` disables it.
No bias correction, ε or weight decay (the paper has none); m starts at 0.

Compression: block-wise (B = 128) 4-bit quantisation with the signed dynamic-exponent map of the
4-bit optimizers paper (ref. [11] of SQ-MEFT), stored in torchao's ``OptimState4bit``, whose codes
and scales :class:`FourBitCodec` reproduces bit for bit with fewer passes (in place, table lookups):
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

__all__ = [
    "SQMEFT",
    "FourBitCodec",
    "dequantize_4bit_",
    "quantize_4bit_",
    "sqmeft_step",
    "state_nbytes",
    "torchao_quantize_4bit_",
]


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


def decision_boundaries(qmap: Tensor) -> Tensor:
    """The 15 fp32 thresholds t_c of torchao's 4-bit rounding: torchao picks code c + 1 over c when
    ``fl(x − q_c) ≥ fl((q_{c+1} − q_c)·0.5)``, which holds exactly for ``x ≥ t_c``, the smallest
    such fp32 x (rounding is monotone), so ``code(x) = #{c : t_c ≤ x}`` bit for bit."""
    out = []
    for c in range(qmap.numel() - 1):
        low, high = qmap[c], qmap[c + 1]
        half = (high - low) * 0.5
        t = low + half
        while t > low and torch.nextafter(t, low) - low >= half:
            t = torch.nextafter(t, low)
        while t - low < half:
            t = torch.nextafter(t, high)
        out.append(t)
    return torch.stack(out)


def code_tables(boundaries: Tensor) -> tuple[Tensor, Tensor]:
    """Tables over the top 16 bits of an fp32 x: the code of the bucket's smallest value (uint8)
    and the one decision boundary inside the bucket (fp32; +inf if none), so that
    ``code(x) = base[k] + (x ≥ inside[k])`` with ``k = bits(x) >> 16``. Buckets (2^16 fp32 values
    each, a relative width of 2^-7) are narrower than any gap between boundaries, so one boundary
    at most lies in each; NaN buckets give torchao's code 0."""
    top = torch.arange(1 << 16, dtype=torch.int32) << 16
    ends = torch.stack([top.view(torch.float32), (top | 0xFFFF).view(torch.float32)])
    low, high = ends.amin(0), ends.amax(0)
    base = torch.bucketize(low, boundaries, right=True)
    crossings = torch.bucketize(high, boundaries, right=True) - base
    if (crossings > 1).any():
        raise ValueError("two decision boundaries of the 4-bit map share a 16-bit bucket")
    crossed = crossings == 1
    inside = torch.where(crossed, boundaries[base.clamp(max=boundaries.numel() - 1)], torch.inf)
    nan = low.isnan() | high.isnan()
    return base.masked_fill(nan, 0).to(torch.uint8), inside.masked_fill(nan, torch.inf)


def quantize_4bit_(
    codes: Tensor, scale: Tensor, m: Tensor, base: Tensor, inside: Tensor, scratch: Tensor
) -> None:
    """``OptimState4bit.copy_(m)`` bit for bit (block absmax ``s`` clipped at 1e-12, as torchao's
    ``scale_tensor``; the code of ``m/s`` by :func:`code_tables`' two lookups instead of torchao's
    four ``torch.where`` passes). ``m`` (fp32) is overwritten; ``scratch`` is (3, numel) fp32."""
    flat = m.view(-1)
    blocks = flat.view(scale.numel(), -1)
    low, high = torch.aminmax(blocks, dim=1)
    torch.maximum(low.neg_(), high, out=scale).clamp_(min=1e-12)
    blocks.div_(scale.view(-1, 1))
    key, threshold = scratch[0].view(torch.int32), scratch[1]
    code = scratch[2].view(torch.uint8)[: flat.numel()]
    torch.bitwise_right_shift(flat.view(torch.int32), 16, out=key).bitwise_and_(0xFFFF)
    torch.index_select(inside, 0, key, out=threshold)
    torch.index_select(base, 0, key, out=code)
    above = key.view(torch.bool)[: flat.numel()]
    code.add_(torch.ge(flat, threshold, out=above).view(torch.uint8))
    pairs = code.view(torch.int16)  # little-endian: even code + 256 · odd code
    packed = torch.bitwise_and(pairs, 0xFF).bitwise_left_shift_(4).bitwise_or_(pairs.bitwise_right_shift(8))
    codes.copy_(packed)


def dequantize_4bit_(out: Tensor, codes: Tensor, scale: Tensor, pair_table: Tensor, index: Tensor) -> None:
    """``OptimState4bit.dequantize()`` bit for bit into ``out`` (fp32): each byte looks up its two
    map values at once in a 256×2 table, times the block's scale (one product, as torchao);
    ``index`` is int32 scratch of ``codes.numel()``."""
    index.copy_(codes)
    torch.index_select(pair_table, 0, index, out=out.view(-1, 2))
    out.view(scale.numel(), -1).mul_(scale.view(-1, 1))


def torchao_quantize_4bit_(codes: Tensor, scale: Tensor, m: Tensor, qmap: Tensor) -> None:
    """torchao's own ``OptimState4bit.copy_(m)`` (``scale_tensor``, its ``torch.where`` binary
    search, packing) written into ``codes``/``scale``: what ``compile=True`` compiles, since
    inductor turns its passes into one loop, while it compiles :func:`quantize_4bit_`'s table
    lookups into slow scalar gathers."""
    scaled, s = scale_tensor(m.view(-1), codes.numel() * 2 // scale.numel())
    c = quantize_4bit_with_qmap(scaled, qmap)
    codes.copy_((c[::2] << 4) | c[1::2])
    scale.copy_(s)


def pair_table(qmap: Tensor) -> Tensor:
    """Row b of the 256×2 table: the map values of byte b's high and low nibble."""
    byte = torch.arange(256, device=qmap.device)
    return torch.stack([qmap[byte >> 4], qmap[byte & 15]], dim=1)


class FourBitCodec:
    """Quantise/dequantise ``OptimState4bit`` momenta with torchao's codes and scales bit for bit,
    with the lookup tables kept per device."""

    def __init__(self, compile: bool) -> None:
        self.compiled = torch.compile(torchao_quantize_4bit_, dynamic=True) if compile else None
        self._tables: dict[str, tuple[Tensor, Tensor, Tensor]] = {}

    def tables(self, state: OptimState4bit) -> tuple[Tensor, Tensor, Tensor]:
        """(:func:`code_tables`, :func:`pair_table`) for ``state``'s map."""
        key = str(state.codes.device)
        if key not in self._tables:
            qmap = state.qmap
            base, inside = code_tables(decision_boundaries(qmap.cpu()))
            self._tables[key] = (base.to(qmap.device), inside.to(qmap.device), pair_table(qmap))
        return self._tables[key]

    def load(self, state: OptimState4bit, out: Tensor, scratch: Tensor) -> Tensor:
        """The dequantised momentum, written into ``out`` (fp32, ``state``'s numel)."""
        index = scratch.view(torch.int32)[: state.codes.numel()]
        dequantize_4bit_(out, state.codes, state.scale, self.tables(state)[2], index)
        return out.view(state.shape)

    def store(self, state: OptimState4bit, m: Tensor, scratch: Tensor) -> None:
        """Quantise ``m`` into ``state`` (``m`` and ``scratch``, (3, numel) fp32, are overwritten)."""
        if self.compiled is not None:
            self.compiled(state.codes, state.scale, m, state.qmap)
        else:
            quantize_4bit_(state.codes, state.scale, m, *self.tables(state)[:2], scratch)


class Workspace:
    """Four fp32 buffers as large as the largest tensor, reused by every update on CPU, where a
    fresh large buffer costs page faults on every use: the dequantised momentum, sign(m) and the
    quantiser's scratch (the temporaries torchao-style code allocates for every tensor at every
    step). Elsewhere they are allocated per update, as before, so that the CUDA allocator's peaks
    stay what they were (its cache makes that cheap)."""

    def __init__(self) -> None:
        self._cpu: Tensor | None = None

    def take(self, p: Tensor) -> Tensor:
        """(4, p.numel()) fp32 scratch on p's device."""
        n = p.numel()
        if p.device.type != "cpu":
            return torch.empty(4, n, device=p.device)
        if self._cpu is None or self._cpu.shape[1] < n:
            self._cpu = torch.empty(4, n)
        return self._cpu[:, :n]


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
        compile: ``torch.compile`` torchao's own quantiser (:func:`torchao_quantize_4bit_`,
            same codes bit for bit; ~30 s once per process on a 2-core CPU) instead of the eager
            table-lookup quantiser; ``suite-bench optim`` times both.
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
        self.codec = FourBitCodec(compile)
        self.workspace = Workspace()
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
        quantized = isinstance(stored, OptimState4bit)
        scratch = self.workspace.take(p)
        m = self.codec.load(stored, scratch[0], scratch[1]) if quantized else stored
        if self.sign and not (self.stochastic_rounding and p.dtype == torch.bfloat16):
            self._sign_update(group, p, m, scratch[1].view(p.shape))
        else:
            self._general_update(group, p, m)
        if quantized:
            self.codec.store(stored, m, scratch[1:])

    def _sign_update(self, group: dict, p: Tensor, m: Tensor, sign: Tensor) -> None:
        """Alg. 1 lines 7–9 in place: ``m ← lerp(m, g, 1−β)``, ``p ← p − u·sign(m)`` with sign(m)
        in ``sign`` (fp32 scratch); the arithmetic of :func:`sqmeft_step` (u rounded to p's dtype,
        one rounding of the subtraction)."""
        g = p.grad
        m.lerp_(g if g.dtype == torch.float32 else g.float(), 1.0 - group["beta"])
        u = torch.tensor(group["lr"], device=p.device)
        if self.rms_scaled:
            rms = torch.linalg.vector_norm(p, dtype=torch.float32) / math.sqrt(p.numel())
            u = u * torch.clamp(rms, min=group["rms_floor"])
        torch.sign(m, out=sign)
        if p.dtype == torch.float32:
            p.addcmul_(sign, u, value=-1)
        else:
            p.sub_((sign * u).to(p.dtype))

    def _general_update(self, group: dict, p: Tensor, m: Tensor) -> None:
        """The ablations (step along m) and stochastic rounding of bf16 parameters."""
        rule = dict(
            beta=group["beta"], rms_floor=group["rms_floor"], sign=self.sign, rms_scaled=self.rms_scaled
        )
        step = sqmeft_step(p, p.grad, m, group["lr"], **rule)
        if self.stochastic_rounding and p.dtype == torch.bfloat16:
            round_to_bf16_stochastic_(p, p.float() - step, self._generator(p.device))
        else:
            p.sub_(step.to(p.dtype))

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
