"""Estimates as a table: markdown and CSV in GiB, JSON in bytes (the record's own fields)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from suite.estimate.run import HOST_KEY, Estimate
from suite.measure.breakdown import MemoryBreakdown

GIB = 2**30
COLUMNS = {
    "model": "model",
    "method": "method",
    "dtype": "dtype",
    "batch_size": "batch",
    "max_length": "length",
    "gradient_checkpointing": "checkpointing",
    "device": "kernels",
    "ranks": "ranks",
} | {key: f"{label} GiB" for key, label in MemoryBreakdown.labels().items()}


def frame(rows: list[Estimate]) -> pd.DataFrame:
    """The rows in GiB; a ``host state`` column after the total where a method keeps one (0 for
    the others)."""
    df = pd.DataFrame([r.to_json() for r in rows])
    columns = dict(COLUMNS)
    if HOST_KEY in df:
        df[HOST_KEY] = df[HOST_KEY].fillna(0)
        columns[HOST_KEY] = "host state GiB"
    df = df[list(columns)]
    for key in [*MemoryBreakdown.labels(), *([HOST_KEY] if HOST_KEY in columns else [])]:
        df[key] = df[key] / GIB
    return df.rename(columns=columns)


def markdown(rows: list[Estimate]) -> str:
    return frame(rows).to_markdown(index=False, floatfmt=".3f")


def write(rows: list[Estimate], folder: Path) -> None:
    """``table.md``, ``table.csv`` and ``estimates.json`` of ``rows`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "table.md").write_text(markdown(rows) + "\n")
    frame(rows).to_csv(folder / "table.csv", index=False, float_format="%.4f")
    (folder / "estimates.json").write_text(json.dumps([r.to_json() for r in rows], indent=2) + "\n")
