"""The search's compute, and ALIAS against SignSGD tuned by it (``experiments/alias_vs_search.yaml``).

``python -m suite.search.table results/alias_vs_search`` writes ``table.md`` and ``table.tex``
there. Every trial of every study in the folder (its ``*.journal``) is one row with its run's
final loss (mean of the last logged training losses, as in :mod:`suite.papers.frames`) and its
training wall-clock; the tuned row is the study's best trial by its own metric, and its compute is
the sum over all trials, failed ones included: what tuning cost before the chosen run existed.
ALIAS (arXiv 2506.03725) claims ~1.5x end-to-end by skipping that search.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import optuna
import pandas as pd

from suite.papers.alias import SEARCH_SPEEDUP, SOURCE
from suite.papers.frames import FINAL_LOGS, write_table
from suite.search.study import JournalFileBackend, JournalStorage
from suite.search.trials import TRAINED
from suite.track.store import read_metrics, read_summaries

CAPTION = (
    "ALIAS vs SignSGD tuned by an Optuna lr search: each trial's final loss and training wall-clock; "
    "the tuned row is the study's best trial (by the last step's training loss), its compute the sum "
    f"over every trial. Paper: {SOURCE}."
)


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
    """One row per trial of the study in ``journal``: number, lr, state, value and its run."""
    found = load_study(journal)
    rows = []
    for t in found.get_trials(deepcopy=False):
        run = run_record(journal.parent / t.user_attrs["run_name"])
        rows.append({"trial": t.number, "lr": t.params["lr"], "state": t.state.name, "value": t.value, **run})
    best = found.best_trial.number if any(t.state.name == "COMPLETE" for t in found.trials) else None
    frame = pd.DataFrame(rows)
    frame["best"] = frame["trial"] == best
    return frame


def _row(method: str, lr: str, loss: float, wall: float, compute=None, ratio=None, paper=None) -> dict:
    return {
        "method": method,
        "lr": lr,
        "ours: final loss": round(loss, 3),
        "ours: wall-clock (s)": round(wall, 1),
        "ours: compute incl. search (s)": None if compute is None else round(compute, 1),
        "ours: compute / ALIAS": None if ratio is None else round(ratio, 2),
        "paper: compute / ALIAS": paper,
    }


def vs_search_table(alias: dict | None, trials: pd.DataFrame) -> pd.DataFrame:
    """ALIAS's run, every trial, then the tuned SignSGD with the whole search's compute."""
    rows, alias_wall = [], None
    if alias is not None:
        alias_wall = alias["wall_clock_s"]
        rows.append(_row("ALIAS", "none (parameter-free)", alias["final_loss"], alias_wall, alias_wall, 1, 1))
    for _, t in trials.sort_values("trial").iterrows():
        name = f"SignSGD trial {t['trial']} ({t['state'].lower()})"
        rows.append(_row(name, f"{t['lr']:.3g}", t["final_loss"], t["wall_clock_s"]))
    search = float(trials["wall_clock_s"].sum())
    best = trials[trials["best"]]
    if len(best):
        b, name = best.iloc[0], f"SignSGD tuned (best of {len(trials)} trials)"
        ratio = search / alias_wall if alias_wall else None
        loss, wall = b["final_loss"], b["wall_clock_s"]
        rows.append(_row(name, f"{b['lr']:.3g}", loss, wall, search, ratio, SEARCH_SPEEDUP))
    return pd.DataFrame(rows)


def alias_record(folder: Path) -> dict | None:
    """The seed-mean final loss and wall-clock of the ALIAS runs in ``folder`` that trained to the
    end, if any."""
    alias = [s for s in read_summaries(folder) if s["method"].startswith("alias") and s["status"] in TRAINED]
    runs = [run_record(Path(s["run_dir"])) for s in alias]
    if not runs:
        return None
    return {key: sum(r[key] for r in runs) / len(runs) for key in ("final_loss", "wall_clock_s")}


def build(folder: Path) -> pd.DataFrame:
    """The table from ``folder``: its ALIAS runs and the trials of its one study."""
    journals = sorted(folder.glob("*.journal"))
    if len(journals) != 1:
        raise FileNotFoundError(f"{len(journals)} studies (*.journal) in {folder}; the table compares one")
    return vs_search_table(alias_record(folder), trials_frame(journals[0]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m suite.search.table", description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="the experiment's folder, e.g. results/alias_vs_search")
    args = parser.parse_args(argv)
    print(write_table(build(args.folder), args.folder, CAPTION).read_text())


if __name__ == "__main__":
    main()
