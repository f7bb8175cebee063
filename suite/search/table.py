"""A study's trials as a table: each trial's lr, state and value beside its run's final loss
(mean of the last logged training losses, as in :mod:`suite.papers.frames`) and training
wall-clock. :func:`suite.papers.alias.vs_search` sets ALIAS against it
(``experiments/alias_vs_search.yaml``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import optuna
import pandas as pd

from suite.papers.frames import FINAL_LOGS
from suite.search.study import JournalFileBackend, JournalStorage
from suite.track.store import read_metrics


def load_study(journal: Path) -> optuna.Study:
    storage = JournalStorage(JournalFileBackend(str(journal)))
    return optuna.load_study(study_name=journal.stem, storage=storage)


def run_record(run_dir: Path) -> dict:
    """A run's status, training wall-clock and final loss (NaN where it recorded none)."""
    path = run_dir / "summary.json"
    summary = json.loads(path.read_text()) if path.is_file() else {"status": "not run"}
    metrics = read_metrics(run_dir) if (run_dir / "metrics.jsonl").is_file() else []
    losses = [m["train/loss"] for m in metrics if "train/loss" in m][-FINAL_LOGS:]
    return {
        "status": summary["status"],
        "wall_clock_s": summary.get("wall_clock_s") or 0.0,
        "final_loss": sum(losses) / len(losses) if losses else math.nan,
    }


def trials_frame(journal: Path) -> pd.DataFrame:
    """One row per trial of the study in ``journal``: number, lr, state, value and its run (its
    record and ``run_name``); ``best`` marks the study's best trial."""
    found = load_study(journal)
    rows = []
    for t in found.get_trials(deepcopy=False):
        run = run_record(journal.parent / t.user_attrs["run_name"])
        rows.append(
            {"trial": t.number, "lr": t.params["lr"], "state": t.state.name, "value": t.value, **run}
            | {"run_name": t.user_attrs["run_name"]}
        )
    best = found.best_trial.number if any(t.state.name == "COMPLETE" for t in found.trials) else None
    frame = pd.DataFrame(rows)
    frame["best"] = frame["trial"] == best
    return frame
