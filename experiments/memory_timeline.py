"""The live bytes of each memory category through one training step, for seven methods.

    python experiments/memory_timeline.py             # the runs, then the figure and table
    python experiments/memory_timeline.py --redraw    # the figure and table from the committed runs

Runs ``suite-train`` once per method on the tiny model with ``memory.timeline=true`` (step 2, the
first after the step that allocates the optimizer's state, audited off the clock), into
``results/memory_timeline/<method>-seed0/``, then draws every run's ``memory_timeline.json`` in
one figure (``figure.png``) and writes each audit as a row of ``table.md``. On a GPU add
``device=cuda`` (and a model of the GPU's scale) to the command in ``RUN``: the same files result.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from suite.measure.timeline import JSON, PNG, draw  # noqa: E402

METHODS = ["adamw", "lora", "galore_layerwise", "badam", "lomo", "sqmeft", "absignsgd"]
FOLDER = Path("results/memory_timeline")
RUN = [
    "suite-train",
    "-m",
    f"method={','.join(METHODS)}",
    "experiment_name=memory_timeline",
    "memory.audit_step=2",
    "memory.timeline=true",
    "train.max_steps=2",
    "eval.n_examples=0",
    "logger=none",
    "overwrite=true",
]
MIB = 2**20


def table(runs: dict[str, dict]) -> pd.DataFrame:
    """Each method's audited step: the peak, its phase, the categories live then and ``other``."""
    rows = []
    for method, data in runs.items():
        a = data["audit"]
        rows.append(
            {"method": method, "peak in": a["mem_other_phase"], "peak MiB": a["mem_audit_peak_bytes"] / MIB}
            | {
                f"{k} MiB": a[f"mem_audit_{k}_bytes"] / MIB
                for k in ("params", "grads", "state", "activations")
            }
            | {"other MiB": a["mem_other_bytes"] / MIB}
        )
    return pd.DataFrame(rows)


def redraw(folder: Path = FOLDER) -> None:
    """Each run's figure again, all of them in one, and the table, from the runs' JSON."""
    runs = {m: json.loads((folder / f"{m}-seed0" / JSON).read_text()) for m in METHODS}
    for method, data in runs.items():
        fig = draw(data)
        fig.savefig(folder / f"{method}-seed0" / PNG, dpi=120, bbox_inches="tight")
        plt.close(fig)
    fig, axes = plt.subplots(len(runs), 1, figsize=(7, 2.6 * len(runs)))
    for ax, data in zip(axes, runs.values(), strict=True):
        draw(data, ax)
    fig.tight_layout()
    fig.savefig(folder / "figure.png", dpi=110)
    plt.close(fig)
    (folder / "table.md").write_text(table(runs).to_markdown(index=False, floatfmt=".2f") + "\n")


if __name__ == "__main__":
    if "--redraw" not in sys.argv[1:]:
        subprocess.run(RUN, check=True)
    redraw()
