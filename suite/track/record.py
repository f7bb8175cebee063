"""The run record, defined once: what ``summary.json`` holds and what one ``metrics.jsonl`` row holds.

The training loop and the toy fill these records, the store writes them (``to_json``), W&B gets
the same keys, and the report and the paper modules read them back (``from_json``). Each field
carries its unit and meaning; ``summary.json`` keeps flat keys (the memory breakdown as one key
per category of :class:`~suite.measure.breakdown.MemoryBreakdown`), and anything a run adds beyond
these fields (lm-eval scores, the toy's iterates) travels in ``extra`` and is written flat beside
them. Writing a field a record does not declare raises, so nothing is dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from suite.measure.breakdown import MemoryBreakdown, StepAudit


def _f(doc: str, unit: str = "", key: str | None = None, default: Any = None) -> Any:
    return field(default=default, metadata={"doc": doc, "unit": unit, "key": key})


class Declared:
    """A record that refuses attributes it does not declare (a typo or an undeclared key would
    otherwise be set on the object and never written)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self.__dataclass_fields__:
            allowed = ", ".join(self.__dataclass_fields__)
            raise AttributeError(f"{type(self).__name__} has no field {name!r}; allowed: {allowed}")
        object.__setattr__(self, name, value)


@dataclass
class RunSummary(Declared):
    """One run's ``summary.json``. Memory follows the README's measurement protocol."""

    method: str = _f("the method's config name (conf/method/<name>.yaml)")
    model: str = _f("the model's config name")
    data: str = _f("the dataset's config name")
    seed: int = _f("the run's seed (data order, initialisation, the methods' generators)")
    experiment: str = _f("the experiment name: the run lives in results/<experiment>/<run_name>/")
    run_name: str = _f("the run's folder name")
    status: str = _f(
        "running | ok | failed | oom | diverged (non-finite loss) | collapsed (loss rose >20%) | interrupted"
        " | killed (its process died of a signal it cannot catch)",
        default="failed",
    )
    error: str | None = _f("why a run is not ok, one line (the exception, the signal, the collapse)")
    device: str = _f("the device the run trained on, e.g. 'cpu (2 threads)' or a GPU's name")
    torch_version: str = _f("torch.__version__")
    git_commit: str | None = _f("the suite's git commit, if it runs from a checkout")
    versions: dict[str, str | None] | None = _f("versions of the libraries that shape the results")
    base_weights_hash: str | None = _f(
        "the first 12 hex digits of a SHA-256 over the model's weights before training (the base):"
        " runs whose hashes differ started from different weights (suite/track/weights.py)"
    )
    steps: int | None = _f("optimizer steps taken", "steps")
    final_train_loss: float | None = _f("training loss of the last step (mean over micro-batches)")
    eval_exact_match: float | None = _f("greedy exact match of the final answer on the test split", "0..1")
    target_loss: float | None = _f("train.target_loss, the loss time_to_target_s is measured against")
    wall_clock_s: float | None = _f("training wall-clock, evaluation excluded", "s")
    step_time_median_s: float | None = _f("median wall-clock of one optimizer step", "s")
    time_to_target_s: float | None = _f("training wall-clock until the loss first reached target_loss", "s")
    final_val_loss: float | None = _f("validation loss after the last step (null without train.val_every)")
    val_target_loss: float | None = _f("train.val_target_loss, the target of time_to_val_target_s")
    time_to_val_target_s: float | None = _f(
        "training wall-clock until a measured validation loss first reached val_target_loss", "s"
    )
    val_target_reached: bool | None = _f(
        "whether the validation loss reached val_target_loss (false: did not reach; null: no target)"
    )
    memory: MemoryBreakdown | None = _f("the exact memory breakdown, one key per category", "bytes")
    audit: StepAudit | None = _f("one step against the allocator: the mem_other_bytes no category counts")
    load_peak_reserved_bytes: int | None = _f("CUDA max_memory_reserved while the model loaded", "bytes")
    peak_reserved_bytes: int | None = _f("CUDA max_memory_reserved during training (null off CUDA)", "bytes")
    peak_allocated_bytes: int | None = _f(
        "CUDA max_memory_allocated during training (null off CUDA)", "bytes"
    )
    peak_rss_bytes: int | None = _f("the process's peak resident set size", "bytes")
    update_applied_fraction_min: float | None = _f(
        "smallest fraction of trainable coordinates a measured step changed (lost-update guard)", "0..1"
    )
    update_applied_fraction_mean: float | None = _f(
        "mean over the measured steps of the fraction of trainable coordinates changed", "0..1"
    )
    n_params: int | None = _f("parameters of the model", "count")
    n_trainable_params: int | None = _f("parameters that require gradients at the end of the run", "count")
    extra: dict[str, Any] = field(
        default_factory=dict, metadata={"doc": "run-specific keys, written flat", "unit": ""}
    )

    @classmethod
    def for_job(cls, cfg: Any, **fields_: Any) -> RunSummary:
        """A new record naming the job a composed config describes (method, model, data, seed,
        experiment, run), with ``fields_`` set besides."""
        return cls(
            method=cfg.method.name,
            model=cfg.model.name,
            data=cfg.data.name,
            seed=cfg.seed,
            experiment=cfg.experiment_name,
            run_name=cfg.run_name,
            **fields_,
        )

    @classmethod
    def units(cls) -> dict[str, str]:
        """Every key a ``summary.json`` has and its unit (``memory`` is written as one key per
        category, ``extra`` flat, so neither is a key)."""
        out = {}
        for f in fields(cls):
            if f.name == "memory":
                out |= dict.fromkeys(MemoryBreakdown.labels(), f.metadata["unit"])
            elif f.name == "audit":
                out |= StepAudit.units()
            elif f.name != "extra":
                out[f.name] = f.metadata["unit"]
        return out

    @classmethod
    def keys(cls) -> list[str]:
        """The keys every ``summary.json`` has, in order."""
        return list(cls.units())

    def to_json(self) -> dict[str, Any]:
        out = {}
        memory = dict.fromkeys(MemoryBreakdown.labels()) if self.memory is None else self.memory.as_dict()
        for f in fields(self):
            if f.name == "memory":
                out |= memory
            elif f.name == "audit":
                out |= (self.audit or StepAudit()).as_dict()
            elif f.name != "extra":
                out[f.name] = getattr(self, f.name)
        return out | self.extra

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunSummary:
        """A record from a ``summary.json`` dict; missing fields are None, unknown keys go to ``extra``
        (as do the memory keys that do not make a whole breakdown: they are written back as read)."""
        memory = MemoryBreakdown.from_json(data)
        names = {f.name for f in fields(cls)} - {"memory", "audit", "extra"}
        memory_keys = MemoryBreakdown.labels()
        kept = {} if memory else {k: data[k] for k in memory_keys if data.get(k) is not None}
        flat = memory_keys | StepAudit.units()
        extra = {k: v for k, v in data.items() if k not in names and k not in flat} | kept
        fields_ = {k: v for k, v in data.items() if k in names}
        return cls(**fields_, memory=memory, audit=StepAudit.from_json(data), extra=extra)


@dataclass
class MetricsRow(Declared):
    """One training row of ``metrics.jsonl`` (and of the W&B history), keyed as W&B shows it."""

    step: int = _f("optimizer step", "steps", "train/step")
    loss: float = _f("training loss of the step", key="train/loss")
    lr: float | None = _f("learning rate of the first parameter group", key="train/lr")
    wall_clock_s: float | None = _f("training wall-clock so far", "s", "train/wall_clock_s")
    step_time_s: float | None = _f("wall-clock of this step", "s", "train/step_time_s")
    grads_bytes: int | None = _f("peak live .grad bytes so far", "bytes", "mem/grads_bytes")
    rss_bytes: int | None = _f("process peak RSS so far", "bytes", "mem/rss_bytes")
    cuda_reserved_bytes: int | None = _f(
        "CUDA max_memory_reserved so far", "bytes", "mem/cuda_reserved_bytes"
    )
    cuda_allocated_bytes: int | None = _f(
        "CUDA max_memory_allocated so far", "bytes", "mem/cuda_allocated_bytes"
    )
    update_applied_fraction: float | None = _f(
        "fraction of trainable coordinates this step changed (sampled)",
        "0..1",
        "train/update_applied_fraction",
    )

    @classmethod
    def keys(cls) -> dict[str, str]:
        """Field name -> the row's key."""
        return {f.name: f.metadata["key"] for f in fields(cls)}

    def to_json(self) -> dict[str, Any]:
        """The row with its W&B keys; fields that do not apply (None) are left out."""
        return {
            key: getattr(self, name) for name, key in self.keys().items() if getattr(self, name) is not None
        }


def describe_fields(record: type) -> str:
    """A markdown table of a record's fields: key, unit, meaning (memory: one row per category)."""
    lines = ["| key | unit | meaning |", "| --- | --- | --- |"]
    for f in fields(record):
        rows = {f.metadata.get("key") or f.name: f.metadata["doc"]}
        units = dict.fromkeys(rows, f.metadata["unit"])
        if f.name == "memory":
            rows = MemoryBreakdown.docs()
            units = dict.fromkeys(rows, f.metadata["unit"])
        if f.name == "audit":
            rows, units = StepAudit.docs(), StepAudit.units()
        if f.name != "extra":
            lines += [f"| `{key}` | {units[key]} | {doc} |" for key, doc in rows.items()]
    return "\n".join(lines)


if __name__ == "__main__":
    print(f"summary.json\n\n{describe_fields(RunSummary)}\n\nmetrics.jsonl\n\n{describe_fields(MetricsRow)}")
