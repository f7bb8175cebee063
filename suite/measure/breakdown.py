"""The memory categories, declared once: the fields of :class:`MemoryBreakdown`.

``MemoryMeter`` (``suite.measure.memory``) fills one; the run record (``summary.json``), resume,
the estimator's tables, ``suite-report``, the paper tables and the printed summary iterate over
its fields, so a category is added here and in the meter, nowhere else. Torch-free, so the
readers of results do not import torch.
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
