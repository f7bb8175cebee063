"""``suite-report <folder>``: the summaries of a sweep as one table (markdown by default).

One row per run: method, status, final training loss, exact match, the exact memory breakdown
in MiB, peak RSS, wall-clock and median step time. ``--csv`` writes CSV instead.
"""

from __future__ import annotations

import argparse
import logging
import sys

import pandas as pd

from suite.measure.breakdown import TOTAL_KEY, MemoryBreakdown
from suite.track.record import RunSummary
from suite.track.store import read_summaries

MIB = 2**20
COLUMNS = {
    "method": "method",
    "seed": "seed",
    "status": "status",
    "final_train_loss": "final loss",
    "eval_exact_match": "exact match",
    **{key: f"{label} MiB" for key, label in MemoryBreakdown.labels().items()},
    "peak_rss_bytes": "peak RSS MiB",
    "wall_clock_s": "wall-clock s",
    "step_time_median_s": "median step ms",
}

UNITS = RunSummary.units()


def summary_table(folder: str) -> pd.DataFrame:
    """The runs below ``folder``, one row each, in the order of their total memory (unreadable
    summaries are skipped with a warning naming each)."""
    rows = read_summaries(folder)
    if not rows:
        raise FileNotFoundError(f"no summary.json below {folder}")
    df = pd.DataFrame(rows).reindex(columns=list(COLUMNS))
    for key in COLUMNS:
        if UNITS[key] == "bytes":
            df[key] = df[key] / MIB
    df["step_time_median_s"] = 1e3 * df["step_time_median_s"]
    return df.sort_values(TOTAL_KEY).rename(columns=COLUMNS).reset_index(drop=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="suite-report", description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="a results folder, e.g. results/baselines")
    parser.add_argument("--csv", action="store_true", help="write CSV instead of markdown")
    args = parser.parse_args(argv)
    logging.basicConfig(format="suite-report: warning: %(message)s")
    try:
        table = summary_table(args.folder)
    except FileNotFoundError as err:
        parser.exit(2, f"suite-report: error: {err}\n")
    if args.csv:
        table.to_csv(sys.stdout, index=False)
    else:
        print(table.to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
