"""The audited step's live bytes by category, as data and as a stacked-area figure.

``memory.timeline=true`` writes ``memory_timeline.json`` (the series of
:class:`~suite.measure.audit.Timeline`, the audit of ``summary.json``) and ``memory_timeline.png``
(the categories stacked, the phases of the step marked, the peak's moment drawn) into the run
folder; :func:`draw` redraws the figure from the JSON.
"""

from __future__ import annotations

import bisect
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from suite.measure.audit import Timeline  # noqa: E402
from suite.measure.breakdown import PHASES, StepAudit  # noqa: E402

JSON, PNG = "memory_timeline.json", "memory_timeline.png"
MIB = 2**20
SHADES = {"forward": "#e8f0fe", "backward": "#fdecea", "step": "#e6f4ea"}


def write_timeline(folder: Path, timeline: Timeline, audit: StepAudit, method: str) -> None:
    """``memory_timeline.json`` and ``memory_timeline.png`` of one audited step in ``folder``."""
    data = {"method": method, "audit": audit.as_dict()} | timeline.to_json()
    (folder / JSON).write_text(json.dumps(data) + "\n")
    fig = draw(data)
    fig.savefig(folder / PNG, dpi=120, bbox_inches="tight")
    plt.close(fig)


def draw(data: dict[str, Any], ax: plt.Axes | None = None) -> plt.Figure:
    """The categories' live MiB through the step, stacked, against the allocation events in order
    (a profiled step's wall-clock is the profiler's more than the method's); phases shaded, the
    peak marked."""
    fig = ax.figure if ax is not None else plt.figure(figsize=(7, 3.2))
    ax = ax or fig.add_subplot()
    series, t_ms = data["bytes"], data["t_ms"]
    ax.stackplot(
        range(len(t_ms)),
        *[[b / MIB for b in values] for values in series.values()],
        labels=list(series),
        step="post",
        alpha=0.85,
    )
    for name, start, end in data["phases"]:
        if name in PHASES:
            first, last = bisect.bisect_left(t_ms, start), bisect.bisect_right(t_ms, end)
            ax.axvspan(first, last, color=SHADES[name], zorder=0)
            ax.text(first, 1.0, name, transform=ax.get_xaxis_transform(), fontsize=7, va="bottom")
    audit = data["audit"]
    ax.axhline(audit["mem_audit_peak_bytes"] / MIB, color="black", lw=0.8, ls="--", label="peak")
    ax.set(xlabel="allocations and frees in the step, in order", ylabel="live MiB", xlim=(0, len(t_ms)))
    ax.set_title(f"{data['method']}: peak in {audit['mem_other_phase']}", fontsize=9, pad=12)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig
