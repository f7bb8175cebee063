"""Exact memory accounting in bytes, on any device.

The categories of :class:`~suite.measure.breakdown.MemoryBreakdown`, each counted from the tensors
themselves, never from allocator statistics:

* parameters: every parameter of the model, trainable or frozen (unique storages; under FSDP
  this rank's DTensor shards, padded as FSDP2 pads them);
* gradients: the peak of live ``.grad`` bytes, sampled after every gradient accumulation, so
  methods that update inside backward and free each gradient at once show their true peak;
* optimizer state: every tensor the optimizer holds that is not a model parameter: all of
  ``optimizer.state`` (tensor subclasses such as torchao's 4-bit state counted by their inner
  storages), plus parameters in its ``param_groups`` that the model does not own (fp32 master
  copies) and their gradients;
* activations: the peak bytes saved for backward during one forward, via
  ``torch.autograd.graph.saved_tensors_hooks``, excluding tensors that are parameters.

What a method keeps in host memory while the model trains on a GPU (``Method.host_state``: CPU
offload) is none of these device categories: its peak is ``peak_host_state``, recorded as
``mem_host_state_bytes`` beside them.

The CUDA allocator's peaks (``max_memory_reserved``/``max_memory_allocated``) and the process
peak RSS are read separately in ``suite.measure.device``.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import nn

from suite.measure.breakdown import MemoryBreakdown, StepAudit


def storages(t: torch.Tensor) -> Iterator[torch.UntypedStorage]:
    """The storages that really back ``t``: its own, or its inner tensors' for a subclass."""
    if type(t) is not torch.Tensor and type(t) is not nn.Parameter and hasattr(t, "__tensor_flatten__"):
        names, _ = t.__tensor_flatten__()
        for name in names:
            inner = getattr(t, name)
            if isinstance(inner, torch.Tensor):  # a DTensor's device mesh is not
                yield from storages(inner)
    else:
        yield t.untyped_storage()


def storage_key(s: torch.UntypedStorage) -> int:
    """A storage's identity: its address, or on the meta device (no memory, every address 0) the
    storage object itself, so the estimator (``suite.estimate``) counts meta tensors like real ones."""
    return s._cdata if s.device.type == "meta" else s.data_ptr()


def unique_bytes(tensors: Iterable[torch.Tensor], exclude: set[int] | None = None) -> int:
    """Bytes of the distinct storages behind ``tensors``, skipping storage keys in ``exclude``."""
    seen = set(exclude or ())
    total = 0
    for t in tensors:
        for s in storages(t):
            key = storage_key(s)
            if key in seen or s.nbytes() == 0:
                continue
            seen.add(key)
            total += s.nbytes()
    return total


def local_nbytes(t: torch.Tensor) -> int:
    """Bytes of ``t``'s elements on this rank: a DTensor's local shard (FSDP), else all of them."""
    t = t.to_local() if hasattr(t, "to_local") else t
    return t.numel() * t.element_size()


def _tensors_in(obj) -> Iterator[torch.Tensor]:
    """Every tensor reachable from nested dicts, lists and tuples."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _tensors_in(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _tensors_in(v)


def param_storage_ptrs(model: nn.Module) -> set[int]:
    return {storage_key(s) for p in model.parameters() for s in storages(p)}


def state_tensors(optimizer: torch.optim.Optimizer | None, model: nn.Module, extra=()) -> list[torch.Tensor]:
    """Everything ``optimizer`` (and ``extra``) holds that may not be the model's parameters (their
    storages are excluded when counting)."""
    if optimizer is None:
        return []
    own = param_storage_ptrs(model)
    tensors = list(_tensors_in(list(optimizer.state.values())))
    for group in optimizer.param_groups:
        for p in group["params"]:
            if all(storage_key(s) not in own for s in storages(p)):
                tensors.append(p)
                if p.grad is not None:
                    tensors.append(p.grad)
    tensors.extend(_tensors_in(list(extra)))
    return tensors


def state_bytes(optimizer: torch.optim.Optimizer, model: nn.Module, extra=()) -> int:
    """Bytes of everything ``optimizer`` (and ``extra``) holds beyond the model's parameters."""
    return unique_bytes(state_tensors(optimizer, model, extra), exclude=param_storage_ptrs(model))


class MemoryMeter:
    """Counts the categories of :class:`MemoryBreakdown` for one run.

    Create it *before* the method is built, so that its gradient hook runs before any hook the
    method registers (and while every parameter still requires grad), then call :meth:`track`
    with the built method's optimizer. Wrap each
    forward and backward in :meth:`measure_activations`. ``marker``, while set, is told every
    gradient and saved tensor the hooks see (``suite.measure.audit`` labels allocations with it).
    """

    PEAKS = ("peak_grads", "peak_state", "peak_activations", "peak_host_state")  # what a checkpoint carries

    def __init__(self, model: nn.Module):
        self.model = model
        self.optimizer: torch.optim.Optimizer | None = None
        self.extra: list = []
        self.host: Callable[[], list[torch.Tensor]] | None = None
        self._live: dict[int, tuple[nn.Parameter, int]] = {}
        self._live_bytes = 0
        self.peak_grads = 0
        self.peak_state = 0
        self.peak_activations = 0
        self.peak_host_state = 0
        self._saved = 0
        self._saved_ptrs: set[int] = set()
        self._param_ptrs = param_storage_ptrs(model)
        self.marker: Callable[[str, torch.Tensor], None] | None = None
        self.audit: StepAudit | None = None  # the audited step's (suite.measure.audit)
        hooked = [p for p in model.parameters() if p.requires_grad]
        self._hooked = {id(p) for p in hooked}
        self._handles = [p.register_post_accumulate_grad_hook(self._on_grad) for p in hooked]

    def track(
        self,
        optimizer: torch.optim.Optimizer,
        extra=(),
        host: Callable[[], list[torch.Tensor]] | None = None,
    ) -> None:
        """Count ``optimizer`` (and anything in ``extra``) as optimizer state from now on, except
        the tensors ``host()`` gives, counted as host state."""
        self.optimizer = optimizer
        self.extra = list(extra)
        self.host = host
        self._param_ptrs = param_storage_ptrs(self.model)  # wrappers may have added parameters
        # Parameters the method created (adapters) get the gradient hook too.
        self._handles += [
            p.register_post_accumulate_grad_hook(self._on_grad)
            for p in self.model.parameters()
            if id(p) not in self._hooked and p.requires_grad
        ]

    def _on_grad(self, p: nn.Parameter) -> None:
        # Gradients a method freed in its own hooks (which run after this one) are dropped at
        # the next hook or at ``after_step``, so the peak is sampled at every accumulation.
        for key, (q, _) in list(self._live.items()):
            if q.grad is None:
                self._live_bytes -= self._live.pop(key)[1]
        if p.grad is not None and self.marker is not None:
            self.marker("grads", p.grad)
        if p.grad is not None and id(p) not in self._live:
            nbytes = local_nbytes(p.grad)
            self._live[id(p)] = (p, nbytes)
            self._live_bytes += nbytes
        self.peak_grads = max(self.peak_grads, self._live_bytes)

    def after_step(self) -> None:
        """Resynchronise live gradients and sample optimizer state; call after each update."""
        self._live = {id(p): (p, local_nbytes(p.grad)) for p in self.model.parameters() if p.grad is not None}
        self._live_bytes = sum(n for _, n in self._live.values())
        self.peak_grads = max(self.peak_grads, self._live_bytes)
        if self.optimizer is not None:
            self.peak_state = max(self.peak_state, self.device_state_bytes())
            self.peak_host_state = max(self.peak_host_state, unique_bytes(self.host_state()))

    def host_state(self) -> list[torch.Tensor]:
        """What the method keeps in host memory (``Method.host_state``; none for most methods)."""
        return self.host() if self.host is not None else []

    def device_state(self) -> list[torch.Tensor]:
        """The optimizer state the categories count: :func:`state_tensors`, less :meth:`host_state`."""
        host = {storage_key(s) for t in self.host_state() for s in storages(t)}
        return [
            t
            for t in state_tensors(self.optimizer, self.model, self.extra)
            if all(storage_key(s) not in host for s in storages(t))
        ]

    def device_state_bytes(self) -> int:
        return unique_bytes(self.device_state(), exclude=param_storage_ptrs(self.model))

    def _pack(self, t: torch.Tensor) -> torch.Tensor:
        if isinstance(t, nn.Parameter):  # FSDP's gathered weights are parameters too, not activations
            return t
        if self.marker is not None and all(storage_key(s) not in self._param_ptrs for s in storages(t)):
            self.marker("activations", t)
        for s in storages(t):
            ptr = storage_key(s)
            if ptr not in self._param_ptrs and ptr not in self._saved_ptrs:
                self._saved_ptrs.add(ptr)
                self._saved += s.nbytes()
        return t

    @contextlib.contextmanager
    def measure_activations(self) -> Iterator[None]:
        """Count bytes saved for backward by the forward run inside this block."""
        self._saved, self._saved_ptrs = 0, set()
        with torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t):
            yield
        self.peak_activations = max(self.peak_activations, self._saved)
        self._saved_ptrs = set()

    def breakdown(self) -> MemoryBreakdown:
        return MemoryBreakdown(
            params=unique_bytes(self.model.parameters()),
            grads=self.peak_grads,
            state=self.peak_state,
            activations=self.peak_activations,
        )

    def state_dict(self) -> dict[str, Any]:
        """The peaks and audit a resumed run carries on from (parameters are counted afresh)."""
        audit = None if self.audit is None else dataclasses.asdict(self.audit)
        return {k: getattr(self, k) for k in self.PEAKS} | {"audit": audit}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k in self.PEAKS:
            setattr(self, k, state.get(k, 0) if k == "peak_host_state" else state[k])  # new: may be absent
        audit = state.get("audit")  # absent from older checkpoints
        self.audit = None if audit is None else StepAudit(**audit)

    def close(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
