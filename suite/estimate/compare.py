"""Estimated beside measured: ``python -m suite.estimate.compare RUNS_DIR ESTIMATES_JSON``.

Joins the runs' ``summary.json`` (the exact meter and the CUDA allocator's peaks) with the
estimates of the same methods and prints one markdown table, in MiB, with the estimate's total
over the measured exact total and over the allocator's peak.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from suite.measure.breakdown import TOTAL_KEY, MemoryBreakdown

MIB = 2**20


def side_by_side(runs: Path, estimates: Path) -> pd.DataFrame:
    estimated = {e["method"]: e for e in json.loads(estimates.read_text())}
    rows = []
    for path in sorted(runs.glob("*/summary.json")):
        run = json.loads(path.read_text())
        est = estimated.get(run["method"])
        if est is None:
            continue
        row = {"method": run["method"], "status": run["status"]}
        for key, c in MemoryBreakdown.labels().items():
            row[f"{c} est/meas"] = f"{est[key] / MIB:.1f} / {(run.get(key) or 0) / MIB:.1f}"
        row["peak allocated"] = (run.get("peak_allocated_bytes") or 0) / MIB
        row["peak reserved"] = (run.get("peak_reserved_bytes") or 0) / MIB
        total = est[TOTAL_KEY]
        row["est / meas"] = total / run[TOTAL_KEY] if run.get(TOTAL_KEY) else float("nan")
        row["est / allocated"] = (
            total / run["peak_allocated_bytes"] if run.get("peak_allocated_bytes") else float("nan")
        )
        rows.append(row)
    return pd.DataFrame(rows)


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        sys.exit("usage: python -m suite.estimate.compare RUNS_DIR ESTIMATES_JSON")
    print(side_by_side(Path(argv[0]), Path(argv[1])).to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main(sys.argv[1:])
