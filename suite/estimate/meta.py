"""What a training step needs to run on meta tensors, for as long as an estimate runs.

Meta tensors have shapes and dtypes but no values, which is all the memory accounting reads.
Three things in a real step need more, and get a stand-in here:

* **values read out** (``.item()``, ``float(t)``, ``bool(t)``, ``.tolist()``, ``.cpu()``): a
  method's update or the model's mask helpers read a value to choose a branch or build a small
  table. On meta every value read out is 1 (``True`` for a bool), so a step takes the branch of a
  finite loss and an all-ones attention mask;
* **generators**: ``torch.Generator(device="meta")`` does not exist; a CPU generator is made
  instead (random draws on meta tensors accept it and allocate the same tensor);
* **attention**: on meta, ``scaled_dot_product_attention`` decomposes into the math path, which
  saves the full attention matrix; a real step saves what the fused kernel of the target device
  saves. Without a mask, the meta forward calls that kernel's own op (its autograd formula saves
  exactly the real kernel's tensors): on CPU ``_scaled_dot_product_flash_attention_for_cpu``; on
  CUDA flash attention for fp16/bf16 with head dimension <= 256, else memory-efficient
  attention (the math path if it would need grouped-query heads). A masked call keeps the math
  path.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

TARGETS = ("cpu", "cuda")


def _scalar_one(t: torch.Tensor):
    if t.dtype == torch.bool:
        return True
    return 1.0 if t.dtype.is_floating_point or t.dtype.is_complex else 1


aten = torch.ops.aten
# Pointwise ops whose meta rule (broadcast shape, promoted dtype) is computed here rather than by
# torch's Python reference implementations, which take most of a meta step's time.
_POINTWISE = {
    aten.mul.Tensor,
    aten.mul.Scalar,
    aten.add.Tensor,
    aten.sub.Tensor,
    aten.div.Tensor,
    aten.div.Scalar,
    aten.pow.Tensor_Scalar,
    aten.rsqrt.default,
    aten.neg.default,
}


def _pointwise(func, args, kwargs) -> torch.Tensor | None:
    """The output of an out-of-place pointwise op on floating meta tensors, or None if not that."""
    if func not in _POINTWISE or kwargs:
        return None
    tensors = [a for a in args if isinstance(a, torch.Tensor)]
    if not all(t.device.type == "meta" and t.dtype.is_floating_point for t in tensors):
        return None
    dtype = torch.result_type(*args) if len(args) == 2 else tensors[0].dtype
    shape = _broadcast(*(tuple(t.shape) for t in tensors))
    like = next((t for t in tensors if tuple(t.shape) == shape and 0 not in t.stride()), None)
    if like is not None:
        return torch.empty_strided(shape, like.stride(), dtype=dtype, device="meta")
    return torch.empty(shape, dtype=dtype, device="meta")


def _broadcast(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """NumPy broadcasting of plain integer shapes."""
    width = max(len(s) for s in shapes)
    out = [1] * width
    for s in shapes:
        for i, n in enumerate(s, start=width - len(s)):
            if n != 1:
                if out[i] not in (1, n):
                    raise RuntimeError(f"shapes {shapes} do not broadcast")
                out[i] = n
    return tuple(out)


class _ValuesOfOne(TorchDispatchMode):
    """Values read out of a meta tensor (to a Python scalar or another device) are ones; pointwise
    ops on meta tensors take the short path of :func:`_pointwise`."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = _pointwise(func, args, kwargs)
        if out is not None:
            return out
        source = args[1] if func is torch.ops.aten.copy_.default else args[0] if args else None
        if not isinstance(source, torch.Tensor) or source.device.type != "meta":
            return func(*args, **kwargs)
        if func is torch.ops.aten._local_scalar_dense.default:
            return _scalar_one(source)
        if func is torch.ops.aten._to_copy.default and kwargs.get("device") not in (None, source.device):
            dtype = kwargs.get("dtype") or source.dtype
            return torch.ones(source.shape, dtype=dtype, device=kwargs["device"])
        if func is torch.ops.aten.copy_.default and args[0].device.type != "meta":
            return args[0].fill_(1)
        return func(*args, **kwargs)


class _MetaSafeGenerator(torch.Generator):
    """``torch.Generator`` that gives a CPU generator where a meta one is asked for."""

    def __new__(cls, device="cpu"):
        if torch.device(device).type == "meta":
            device = "cpu"
        return torch._C.Generator(device)


def _fused_attention(target: str, original):
    """``scaled_dot_product_attention`` that runs ``target``'s fused kernel on meta tensors."""

    def attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, **kwargs):
        scale, enable_gqa = kwargs.get("scale"), kwargs.get("enable_gqa", False)
        if query.device.type != "meta" or attn_mask is not None:
            return original(query, key, value, attn_mask, dropout_p, is_causal, **kwargs)
        if target == "cpu":
            out = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
                query, key, value, dropout_p, is_causal, scale=scale
            )
        elif query.dtype in (torch.float16, torch.bfloat16) and query.shape[-1] <= 256:
            out = torch.ops.aten._scaled_dot_product_flash_attention(
                query, key, value, dropout_p, is_causal, scale=scale
            )
        elif enable_gqa and key.shape[1] != query.shape[1]:
            return original(query, key, value, None, dropout_p, is_causal, scale=scale, enable_gqa=True)
        else:
            out = torch.ops.aten._scaled_dot_product_efficient_attention(
                query, key, value, None, True, dropout_p, is_causal, scale=scale
            )
        return out[0]

    return attention


@contextlib.contextmanager
def meta_step(target: str) -> Iterator[None]:
    """Scalar reads, generators and attention as described above, restored on exit."""
    if target not in TARGETS:
        raise ValueError(f"unknown target device {target!r}; allowed: {', '.join(TARGETS)}")
    generator, attention = torch.Generator, F.scaled_dot_product_attention
    torch.Generator = _MetaSafeGenerator
    F.scaled_dot_product_attention = _fused_attention(target, attention)
    try:
        with _ValuesOfOne():
            yield
    finally:
        torch.Generator, F.scaled_dot_product_attention = generator, attention
