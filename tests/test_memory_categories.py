"""Adding a memory category is a change to the meter and nothing else: a copy of the package gets a
``buffers`` category (a field of ``MemoryBreakdown`` and its count in ``MemoryMeter.breakdown``),
and the run record, ``suite-report``, SQ-MEFT Table IV, the estimator's table and the printed
summary show it without another edit."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import suite
from suite.track.record import RunSummary

PACKAGE = Path(suite.__file__).parent
EDITS = {  # file under suite/measure/ -> (the line the edit follows, the added line)
    "breakdown.py": (
        '    activations: int = category("activations", "peak bytes saved for backward in one forward")\n',
        '    buffers: int = category("buffers", "the model\'s buffers (e.g. rotary frequencies)")\n',
    ),
    "memory.py": (
        "            activations=self.peak_activations,\n",
        "            buffers=unique_bytes(self.model.buffers()),\n",
    ),
}

SCRIPT = r"""
import io, json, sys
from contextlib import redirect_stdout
from pathlib import Path

import pandas as pd
import torch
from torch import nn

import suite
from suite.estimate.run import Estimate
from suite.estimate.table import frame
from suite.measure.memory import MemoryMeter
from suite.papers.sqmeft import table4_table
from suite.report import summary_table
from suite.track.record import RunSummary, describe_fields
from suite.track.store import RunFolder, read_summaries
from suite.train import print_summary

model = nn.Linear(4, 4)
model.register_buffer("freqs", torch.zeros(10))  # 40 bytes no category counted before
meter = MemoryMeter(model)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
meter.track(opt)
with meter.measure_activations():
    model(torch.ones(2, 4)).sum().backward()
opt.step()
meter.after_step()
memory = meter.breakdown()
summary = RunSummary(
    method="adamw", status="ok", memory=memory, n_params=20, steps=1, final_train_loss=1.0,
    peak_rss_bytes=2**20, wall_clock_s=1.0, step_time_median_s=1.0,
)
RunFolder(Path("runs/adamw")).write_summary(summary)
on_disk = json.loads(Path("runs/adamw/summary.json").read_text())
runs = pd.DataFrame([row | {"arm": "adamw"} for row in read_summaries("runs")])
estimate = Estimate("tiny", "adamw", "float32", 2, 4, 1, False, "cpu", 1, 20, 20, memory=memory)
printed = io.StringIO()
with redirect_stdout(printed):
    print_summary(summary, Path("runs/adamw"))
print(json.dumps({
    "package": suite.__file__,
    "buffers": memory.buffers,
    "parts": [memory.params, memory.grads, memory.state, memory.activations, memory.buffers],
    "summary_keys": list(on_disk),
    "summary": on_disk,
    "round_trip": RunSummary.from_json(on_disk) == summary,
    "described": describe_fields(RunSummary),
    "report": list(summary_table("runs").columns),
    "table4": list(table4_table(runs).columns),
    "estimates": list(frame([estimate]).columns),
    "estimate_json": list(estimate.to_json()),
    "printed": printed.getvalue(),
}))
"""


def with_buffers(root: Path) -> Path:
    """A copy of the package under ``root`` whose meter counts the model's buffers as a category."""
    shutil.copytree(PACKAGE, root / "suite", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "conf").symlink_to(PACKAGE.parent / "conf")
    for name, (anchor, added) in EDITS.items():
        path = root / "suite" / "measure" / name
        text = path.read_text()
        assert anchor in text, f"{name} no longer has the line this test adds a category after"
        path.write_text(text.replace(anchor, anchor + added))
    return root


@pytest.mark.slow
def test_a_new_category_in_the_meter_reaches_record_report_tables_and_summary(tmp_path):
    root = with_buffers(tmp_path)
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.splitlines()[-1])
    assert Path(out["package"]).parent == root / "suite"  # the edited copy, not the installed suite
    assert out["buffers"] == 40
    expected = RunSummary.keys()
    expected.insert(expected.index("mem_total_bytes"), "mem_buffers_bytes")
    assert out["summary_keys"] == expected  # today's keys, in today's order, and the new one
    assert out["summary"]["mem_total_bytes"] == sum(out["parts"])
    assert out["round_trip"]
    assert "| `mem_buffers_bytes` | bytes | the model's buffers" in out["described"]
    assert out["report"][out["report"].index("total MiB") - 1] == "buffers MiB"
    assert "ours: buffers (MiB)" in out["table4"] and "paper: buffers (GB)" not in out["table4"]
    assert "buffers GiB" in out["estimates"] and "mem_buffers_bytes" in out["estimate_json"]
    assert "activations 0.00  buffers 0.00  total 0.00" in out["printed"]
