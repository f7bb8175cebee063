"""One training step measured against the allocator: what the four categories leave out.

The meter (``suite.measure.memory``) counts each category from the tensors themselves; a device
also holds transient buffers no category names (kernel temporaries, foreach buffers, GaLore's
SVD workspace, the logits' gradient, the batch, the model's buffers). On one sampled step, off
the clock, :class:`StepRecorder` records every allocation and free with ``torch.profiler``
(``profile_memory=True``; the allocation events of its event tree, as torch's own
``export_memory_timeline`` reads them) and labels each allocation with the category the meter
saw it in: an ``.grad`` (gradient hook), a tensor saved for backward (saved-tensor hook), the
optimizer's state or a parameter (read at the step's end). A label is a profiler range
``suite.mem:<category>:<address>`` opened by the meter's hook, so it lies on the allocations'
clock and names the allocation live at that address then. Replaying the events gives the live
bytes of each category through the step (:class:`Timeline`) and, at the step's peak,
:class:`~suite.measure.breakdown.StepAudit`: ``other`` = peak - the four categories then.

Live bytes at the step's start: on CUDA ``torch.cuda.memory_allocated`` (the allocator's own
count), the peak ``max_memory_allocated`` over the step, beside the peak active bytes
(``memory_stats``), the reserved bytes and the driver's reading (``device_memory_used``). On CPU,
where the allocator keeps no count and holds the whole process (the data set too), the step's
start is counted from the tensors the step holds (parameters, buffers, gradients, optimizer
state, the batch) and the peak is that plus the largest net allocation the profiler reports
during the step. The profiler does not report freeing memory allocated before it started, so a
method that frees memory of an earlier step inside the audited one is counted high in ``other``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch.profiler import ProfilerActivity, profile, record_function

from suite.measure.breakdown import PHASES, StepAudit
from suite.measure.memory import (
    MemoryMeter,
    storage_key,
    storages,
    unique_bytes,
)

MARK = "suite.mem:"
PHASE = "suite.phase:"
CATEGORIES = StepAudit.at_peak()
PRECEDENCE = ("params", "state", "grads", "activations")  # a storage seen as two is the first


def mark(category: str, t: torch.Tensor) -> None:
    """Label the allocations behind ``t`` as ``category`` on the profiler's clock."""
    for s in storages(t):
        if s.nbytes():
            with record_function(f"{MARK}{category}:{storage_key(s)}"):
                pass


def phase(name: str) -> contextlib.AbstractContextManager:
    """A profiler range around one phase of the step (forward, backward, step)."""
    return record_function(f"{PHASE}{name}")


@dataclass
class Timeline:
    """Live bytes of every category, and of ``other``, after each allocation event of one step;
    times in ms from the step's start, phases as (name, start ms, end ms)."""

    t_ms: list[float] = field(default_factory=list)
    bytes: dict[str, list[int]] = field(default_factory=dict)
    phases: list[tuple[str, float, float]] = field(default_factory=list)

    def total(self, i: int) -> int:
        return sum(series[i] for series in self.bytes.values())

    def to_json(self) -> dict:
        return {"t_ms": self.t_ms, "bytes": self.bytes, "phases": [list(p) for p in self.phases]}


def cuda_readings(device: torch.device) -> dict[str, int | None]:
    """The allocator's peak, peak active and reserved bytes, and the driver's reading."""
    torch.cuda.synchronize(device)
    used = getattr(torch.cuda, "device_memory_used", None)  # torch >= 2.6, through NVML
    return {
        "peak": torch.cuda.max_memory_allocated(device),
        "cuda_active": torch.cuda.memory_stats(device).get("active_bytes.all.peak"),
        "cuda_reserved": torch.cuda.max_memory_reserved(device),
        "driver_used": used(device) if used is not None else None,
    }


class StepRecorder:
    """Records one step: ``with recorder.recording(batches): train_step(..., phases=phase)``,
    then :meth:`audit` and :meth:`timeline`."""

    def __init__(self, meter: MemoryMeter, device: torch.device, step: int):
        self.meter, self.device, self.step = meter, device, step
        self.start: dict[str, int] = {}
        self.cuda: dict[str, int | None] = {}
        self.events: list = []

    def counted_now(self, batches: list[dict]) -> dict[str, int]:
        """Bytes of each category live now, and ``other``: buffers and the batch (on CUDA the
        allocator's count less the categories)."""
        meter = self.meter
        params = unique_bytes(meter.model.parameters())
        grads = unique_bytes(p.grad for p in meter.model.parameters() if p.grad is not None)
        state = meter.device_state_bytes()
        now = {"params": params, "grads": grads, "state": state, "activations": 0}
        if self.device.type == "cuda":
            other = torch.cuda.memory_allocated(self.device) - sum(now.values())
        else:
            held = [*meter.model.parameters(), *meter.device_state()]
            batch = [t for b in batches for t in b.values() if isinstance(t, torch.Tensor)]
            other = unique_bytes([*held, *meter.model.buffers(), *batch]) - params - state
        return now | {"other": other}

    @contextlib.contextmanager
    def recording(self, batches: list[dict]) -> Iterator[Callable[[str], contextlib.AbstractContextManager]]:
        """Profile the step run inside; yields the phase marker to pass to ``train_step``."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        self.start = self.counted_now(batches)
        cuda = self.device.type == "cuda" and torch.cuda.is_available()
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
        with profile(activities=activities, profile_memory=True) as prof:
            self.meter.marker = mark
            try:
                yield phase
            finally:
                self.meter.marker = None
            for p in self.meter.model.parameters():
                mark("params", p)
            for t in self.meter.device_state():
                mark("state", t)
        if self.device.type == "cuda":
            self.cuda = cuda_readings(self.device)
        self.events = sorted(walk(prof.profiler.kineto_results.experimental_event_tree()), key=start_ns)

    def labels(self) -> tuple[dict[int, str], list[tuple[int, int, int | None]]]:
        """The allocations of the step in order, as (time ns, signed bytes, allocation id), and
        each allocation's category."""
        live: dict[int, int] = {}  # address -> allocation id
        labels: dict[int, str] = {}
        changes: list[tuple[int, int, int | None]] = []
        device_type = self.meter_device_type()
        for e in self.events:
            if e.name.startswith(MARK):
                category, key = e.name[len(MARK) :].rsplit(":", 1)
                aid = live.get(int(key))
                if aid is not None and rank(category) < rank(labels.get(aid)):
                    labels[aid] = category
                continue
            fields_ = allocation(e)
            if fields_ is None or fields_.device.type != device_type:
                continue
            size, ptr = fields_.alloc_size, fields_.ptr
            if size > 0:
                live[ptr] = len(changes)
                changes.append((e.start_time_ns, size, len(changes)))
            else:
                changes.append((e.start_time_ns, size, live.pop(ptr, None)))
        return labels, changes

    def meter_device_type(self) -> str:
        """The device the model's tensors are on (the run's device)."""
        return next(self.meter.model.parameters()).device.type

    def timeline(self) -> Timeline:
        labels, changes = self.labels()
        t0 = min([start_ns(e) for e in self.events] or [0])
        now = dict(self.start)
        out = Timeline(bytes={k: [] for k in now})

        def sample(t_ns: int) -> None:
            out.t_ms.append((t_ns - t0) / 1e6)
            for k, v in now.items():
                out.bytes[k].append(v)

        sample(t0)
        for t_ns, size, aid in changes:
            now[labels.get(aid, "other") if aid is not None else "other"] += size
            sample(t_ns)
        out.phases = [
            (e.name[len(PHASE) :], (start_ns(e) - t0) / 1e6, (e.end_time_ns - t0) / 1e6)
            for e in self.events
            if e.name.startswith(PHASE)
        ]
        return out

    def audit(self, timeline: Timeline | None = None) -> StepAudit:
        """The step's peak and the categories live then; ``other`` is the rest."""
        timeline = timeline or self.timeline()
        i = max(range(len(timeline.t_ms)), key=timeline.total)
        at_peak = {k: timeline.bytes[k][i] for k in CATEGORIES}
        peak = self.cuda.get("peak") or timeline.total(i)
        source = "torch.cuda.max_memory_allocated" if self.cuda else "torch.profiler (profile_memory=True)"
        return StepAudit(
            step=self.step,
            phase=phase_at(timeline.phases, timeline.t_ms[i]),
            peak=peak,
            **at_peak,
            other=peak - sum(at_peak.values()),
            source=source,
            cuda_active=self.cuda.get("cuda_active"),
            cuda_reserved=self.cuda.get("cuda_reserved"),
            driver_used=self.cuda.get("driver_used"),
        )


def rank(category: str | None) -> int:
    return PRECEDENCE.index(category) if category in PRECEDENCE else len(PRECEDENCE)


def phase_at(phases: list[tuple[str, float, float]], t_ms: float) -> str:
    """The phase running at ``t_ms``: the last one that started by then (the first before any)."""
    started = [name for name, start, _ in phases if start <= t_ms and name in PHASES]
    return started[-1] if started else PHASES[0]


def walk(nodes) -> Iterator:
    for n in nodes:
        yield n
        yield from walk(n.children)


def start_ns(event) -> int:
    return event.start_time_ns


def allocation(event):
    """The allocation fields of a profiler event (ptr, alloc_size, device), or None."""
    fields_ = event.extra_fields
    return fields_ if type(fields_).__name__ == "_ExtraFields_Allocation" else None
