"""The benchmark's tables: Markdown for people, JSON for tools, and the goals they are read against."""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import OmegaConf

from suite.configs import CONF_DIR


class Table:
    """Rows of a name and numbers under named columns (the first column names the row)."""

    def __init__(self, columns: list[str]) -> None:
        self.columns = columns
        self.rows: list[list] = []

    def add(self, name: str, *values) -> None:
        self.rows.append([name, *values])

    def value(self, name: str, column: int) -> float | None:
        """The number in ``column`` (1 = the first number) of row ``name``, None if absent."""
        for row in self.rows:
            if row[0] == name:
                return row[column]
        return None

    def markdown(self) -> str:
        """The table as Markdown: milliseconds with 3 significant decimals, ratios with 2."""
        lines = ["| " + " | ".join(self.columns) + " |", "| --- |" + " ---: |" * (len(self.columns) - 1)]
        for name, *values in self.rows:
            units = ["ms" in col for col in self.columns[1:]]
            cells = [v if isinstance(v, str) else _number(v, ms) for v, ms in zip(values, units, strict=True)]
            lines.append("| " + " | ".join([name, *cells]) + " |")
        return "\n".join(lines)

    def records(self) -> list[dict]:
        """One dict per row, keyed by the column names."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def _number(v: float, is_ms: bool) -> str:
    return f"{v:.3f}" if is_ms and v < 10 else f"{v:.1f}" if is_ms else f"{v:.2f}"


PROBE = "lost-update probe, before() + after() (outside the step's clock)"
# The loop runs the probe on the logged steps only: step 1 and every train.log_every-th.
LOG_EVERY = OmegaConf.load(CONF_DIR / "config.yaml").train.log_every

# (goal, table, row (or {device type: row}), column, limit): met when the value is <= limit;
# column "adamw" is the row's ms over AdamW's. The sign rules are read on their default path.
GOALS = [
    (
        "SignSGD step ≤ 1.5× its own floor",
        "step",
        {"cpu": "SignSGD per-tensor (CPU default)", "cuda": "SignSGD foreach (CUDA default)"},
        3,
        1.5,
    ),
    (
        "Signum step ≤ 1.5× its own floor",
        "step",
        {"cpu": "Signum β=0.9 per-tensor", "cuda": "Signum β=0.9 foreach"},
        3,
        1.5,
    ),
    (
        "StoSignSGD step ≤ 1.5× its own floor",
        "step",
        {"cpu": "StoSignSGD per-tensor (CPU default)", "cuda": "StoSignSGD foreach"},
        3,
        1.5,
    ),
    ("ABSignSGD step ≤ 1.5× its own floor (one block)", "step", "ABSignSGD (one block)", 3, 1.5),
    ("ALIAS step ≤ 2× its own floor", "step", "ALIAS full memory", 3, 2.0),
    ("SQ-MEFT step ≤ AdamW step", "step", "SQ-MEFT 4-bit (as step(), not in backward)", "adamw", 1.0),
    ("SQ-MEFT step, compiled quantiser ≤ AdamW's", "step", "SQ-MEFT 4-bit, compiled quantiser", "adamw", 1.0),
    ("SQ-MEFT training step ≤ 1.05× AdamW's", "training", "SQ-MEFT (in backward)", 2, 1.05),
    (
        "SQ-MEFT training step, compiled quantiser ≤ 1.05× AdamW's",
        "training",
        "SQ-MEFT (in backward), compiled quantiser",
        2,
        1.05,
    ),
    ("lost-update probe < 1% of an AdamW training step (each call)", "training", PROBE, 2, 0.01),
    (
        f"lost-update probe < 1% of an AdamW training step (on by default: every {LOG_EVERY}th step)",
        "training",
        PROBE,
        "cadence",
        0.01,
    ),
    ("ABSignSGD training step ≤ 0.45× AdamW's at 16 layers", "depth", "16", 3, 0.45),
    ("ABSignSGD training step ≤ 0.40× AdamW's at 36 layers", "depth", "36", 3, 0.40),
]


def _measured(table: Table, row: str, column: int | str) -> float | None:
    if column == "cadence":
        value = table.value(row, 2)
        return None if value is None else value / LOG_EVERY
    if column == "adamw":
        mine, adamw = table.value(row, 1), table.value("AdamW (torch, foreach)", 1)
        return None if mine is None or adamw is None else mine / adamw
    return table.value(row, column)


def goals_table(tables: dict[str, Table], step_params: int, device_type: str) -> Table:
    """Every goal with the value measured for it in ``tables`` (a missing table or row: not measured)."""
    goals = Table([f"goal (step table at {step_params / 1e6:.1f}M parameters)", "measured", "met"])
    for goal, where, row, column, limit in GOALS:
        name = row.get(device_type, row["cpu"]) if isinstance(row, dict) else row
        value = _measured(tables[where], name, column) if where in tables else None
        if value is None:
            goals.add(goal, "not measured", "—")
            continue
        shown = f"{100 * value:.2f}%" if limit < 0.1 else f"{value:.2f}×"
        goals.add(goal, shown, "yes" if value <= limit else "**no**")
    return goals


def goals_summary(goals: Table) -> str:
    """The goals table in one line of prose: which are met and which not, with the values."""
    met = [f"{g} ({v})" for g, v, ok in goals.rows if ok == "yes"]
    missed = [f"{g} ({v})" for g, v, ok in goals.rows if ok == "**no**"]
    unmeasured = [g for g, v, ok in goals.rows if ok not in ("yes", "**no**")]
    parts = [f"**Met:** {'; '.join(met) or 'none'}.", f"**Not met:** {'; '.join(missed) or 'none'}."]
    if unmeasured:
        parts.append(f"Not measured: {'; '.join(unmeasured)}.")
    return " ".join(parts)


def write_outputs(out: str, header: str, machine: dict, tables: dict[str, Table]) -> None:
    """``optim.json`` (machine + every table's rows), ``optim.md`` (all tables), ``goals.md`` and
    ``summary.md`` (the goals in one line)."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    data = {"machine": machine, "tables": {name: t.records() for name, t in tables.items()}}
    (folder / "optim.json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    body = "\n\n".join(t.markdown() for t in tables.values())
    (folder / "optim.md").write_text(f"{header}\n\n{body}\n")
    (folder / "goals.md").write_text(tables["goals"].markdown() + "\n")
    (folder / "summary.md").write_text(goals_summary(tables["goals"]) + "\n")
