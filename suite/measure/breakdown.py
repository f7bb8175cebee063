"""The memory categories, declared once: the fields of :class:`MemoryBreakdown`.

``MemoryMeter`` (``suite.measure.memory``) fills one; the run record (``summary.json``), resume,
the estimator's tables, ``suite-report``, the paper tables and the printed summary iterate over
its fields, so a category is added here and in the meter, nowhere else (and, to be counted at an
audited step's peak rather than in its ``other``, in :class:`StepAudit` and the audit's count,
``suite.measure.audit``). Torch-free, so the readers of results do not import torch.
"""

from __future__ import annotations

from dataclasses import Field, asdict, dataclass, field, fields
from typing import Any

TOTAL_KEY = "mem_total_bytes"


def category(label: str, doc: str) -> Any:
    """A category: its column label in tables and its meaning in ``summary.json``'s description."""
    return field(metadata={"label": label, "doc": doc})


def summary_key(name: str) -> str:
    """The ``summary.json`` key of category ``name``, in bytes."""
    return f"mem_{name}_bytes"


@dataclass(frozen=True)
class MemoryBreakdown:
    """Exact bytes per category, counted from the tensors themselves (README, measurement protocol)."""

    params: int = category("params", "every parameter of the model, trainable or frozen")
    grads: int = category("grads", "peak live .grad bytes, sampled after every backward")
    state: int = category("state", "peak optimizer state beyond the parameters (incl. master copies)")
    activations: int = category("activations", "peak bytes saved for backward in one forward")

    @classmethod
    def categories(cls) -> tuple[Field, ...]:
        return fields(cls)

    @classmethod
    def labels(cls) -> dict[str, str]:
        """``summary.json`` key -> column label: every category in order, then the total."""
        return {summary_key(f.name): f.metadata["label"] for f in cls.categories()} | {TOTAL_KEY: "total"}

    @classmethod
    def docs(cls) -> dict[str, str]:
        """``summary.json`` key -> meaning: every category in order, then the total."""
        parts = " + ".join(f.metadata["label"] for f in cls.categories())
        return {summary_key(f.name): f.metadata["doc"] for f in cls.categories()} | {TOTAL_KEY: parts}

    @property
    def total(self) -> int:
        return sum(asdict(self).values())

    def as_dict(self) -> dict[str, int]:
        """The ``summary.json`` keys and their bytes, the total last."""
        return {summary_key(k): v for k, v in asdict(self).items()} | {TOTAL_KEY: self.total}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MemoryBreakdown | None:
        """The breakdown in a ``summary.json`` dict, or None where a category is missing or null (a
        run that failed before it was measured, one written before the category existed) or where
        the total is not their sum (a summary written by another tool or by hand)."""
        values = {f.name: data.get(summary_key(f.name)) for f in cls.categories()}
        if any(v is None for v in values.values()):
            return None
        breakdown = cls(**values)
        return breakdown if data.get(TOTAL_KEY, breakdown.total) == breakdown.total else None


# ---------------------------------------------------------------- the audit of one step

PHASES = ("forward", "backward", "step")  # a method that updates inside backward updates in "backward"


def audited(key: str, doc: str, unit: str = "bytes") -> Any:
    """A field of :class:`StepAudit`: its ``summary.json`` key, unit and meaning."""
    return field(default=None, metadata={"key": key, "unit": unit, "doc": doc})


@dataclass(frozen=True)
class StepAudit:
    """One training step measured against the allocator (``suite.measure.audit``): the peak of
    live tensor bytes during the step, each category of :class:`MemoryBreakdown` live at that
    moment, and ``other``, the bytes no category counts (temporaries, workspaces, the logits'
    gradient, the batch, the model's buffers). ``other`` is not added to ``mem_total_bytes``: the
    categories there are each a peak over the run, ``other`` a remainder at one moment."""

    step: int | None = audited(
        "mem_audit_step", "the audited training step (its time is not on the clock)", "step"
    )
    phase: str | None = audited(
        "mem_other_phase", "where the audited step's peak fell: forward, backward or step", ""
    )
    peak: int | None = audited(
        "mem_audit_peak_bytes", "allocator-level peak of live tensor bytes in the audited step"
    )
    params: int | None = audited("mem_audit_params_bytes", "parameters live at that peak")
    grads: int | None = audited("mem_audit_grads_bytes", ".grad bytes live at that peak")
    state: int | None = audited("mem_audit_state_bytes", "optimizer state live at that peak")
    activations: int | None = audited(
        "mem_audit_activations_bytes", "bytes saved for backward live at that peak"
    )
    other: int | None = audited("mem_other_bytes", "the peak minus the four categories at that moment (>= 0)")
    source: str | None = audited("mem_audit_source", "what the peak was read from", "")
    cuda_active: int | None = audited(
        "mem_audit_cuda_active_peak_bytes", "CUDA peak active bytes in the step"
    )
    cuda_reserved: int | None = audited(
        "mem_audit_cuda_reserved_bytes", "CUDA max_memory_reserved at the step's end"
    )
    driver_used: int | None = audited(
        "mem_audit_driver_used_bytes",
        "device memory in use as the driver (nvidia-smi) reports it, at the step's end",
    )

    @classmethod
    def at_peak(cls) -> tuple[str, ...]:
        """The fields that, with ``other``, make up ``peak``: one per :class:`MemoryBreakdown` category."""
        return tuple(f.name for f in MemoryBreakdown.categories())

    @classmethod
    def units(cls) -> dict[str, str]:
        return {f.metadata["key"]: f.metadata["unit"] for f in fields(cls)}

    @classmethod
    def docs(cls) -> dict[str, str]:
        return {f.metadata["key"]: f.metadata["doc"] for f in fields(cls)}

    def as_dict(self) -> dict[str, Any]:
        return {f.metadata["key"]: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StepAudit | None:
        """The audit in a ``summary.json`` dict, or None where the run audited no step."""
        values = {f.name: data.get(f.metadata["key"]) for f in fields(cls)}
        return None if values["peak"] is None else cls(**values)
