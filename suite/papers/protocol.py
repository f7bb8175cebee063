"""An artefact made by the comparison protocol (``suite-compare`` with
``results_dir=results/<artefact>``): each arm tuned with the same number of trials on the tuning
seed, chosen by validation loss, then rerun on evaluation seeds disjoint from it.

Read from the runs alone: a comparison's tuning trials are the runs ``<arm>-tuning-<nnn>`` and
its evaluation runs ``<arm>-eval-seed<n>`` (``suite.compare.protocol``); the searched settings,
the seeds and the number of bootstrap resamples come from its ``comparison.yaml``. Intervals are
95% percentile bootstraps of the mean over the evaluation seeds (:func:`suite.stats.bootstrap_ci`).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from suite import stats
from suite.papers.frames import in_comparison, protocol_arm
from suite.track.store import read_summaries

# The script that runs an artefact's comparison (``experiments/protocol.sh experiment=<artefact>``):
# the command its registration names.
PROTOCOL = "experiments/protocol.sh"
RECORD = "comparison.yaml"  # written by suite-compare beside its workload folders
TUNING_RUN = re.compile(r"(?P<arm>.+)-tuning-\d{3}")
TRAINED = ("ok", "collapsed")  # runs whose numbers count (as suite-compare's report)
LEVEL = 0.95


def record(folder: Path) -> dict:
    """The settings of the one comparison below ``folder``."""
    found = sorted(Path(folder).rglob(RECORD))
    if len(found) != 1:
        raise FileNotFoundError(
            f"expected one {RECORD} below {folder}, found {len(found)}: run suite-compare"
        )
    return OmegaConf.to_container(OmegaConf.load(found[0]))["settings"]


def tuning_runs(folder: Path) -> pd.DataFrame:
    """One row per tuning trial: its arm, status, final validation loss and training wall-clock."""
    rows = []
    for run in read_summaries(folder):
        found = TUNING_RUN.fullmatch(str(run.get("run_name")))
        if protocol_arm(run) == "" and found:
            rows.append(
                {"arm": found["arm"], **{k: run.get(k) for k in ("status", "final_val_loss", "wall_clock_s")}}
            )
    return pd.DataFrame(rows, columns=["arm", "status", "final_val_loss", "wall_clock_s"])


def interval(values: pd.Series, n_resamples: int, scale: float = 1.0, digits: int = 3) -> str:
    """``mean [low, high]`` over the seeds (95% percentile bootstrap)."""
    kept = values.dropna().astype(float) * scale
    if kept.empty:
        return "n/a"
    ci = stats.bootstrap_ci(kept.to_numpy(), "mean", LEVEL, n_resamples, seed=0)
    return f"{ci.estimate:.{digits}f} [{ci.low:.{digits}f}, {ci.high:.{digits}f}]"


def standard_error_points(runs: pd.DataFrame) -> str:
    """One run's exact-match standard error, sqrt(p(1-p)/n) in points at the seeds' mean p, and
    its bound at any accuracy, sqrt(0.25/n) (n: the test problems scored)."""
    n = int(np.minimum(runs["cfg.eval.n_examples"], runs["cfg.data.n_test"]).min())
    p = pd.to_numeric(runs["eval_exact_match"]).mean()
    if not n or math.isnan(p):
        return "n/a"
    return f"{100 * math.sqrt(p * (1 - p) / n):.2f} (<= {100 * math.sqrt(0.25 / n):.2f}, n={n})"


def chosen_setting(runs: pd.DataFrame, searched: list[str]) -> str:
    """The tuned setting the evaluation runs used (the searched method settings)."""
    first = runs.iloc[0]
    return ", ".join(f"{k} {first[f'cfg.method.{k}']:.3g}" for k in sorted(searched)) or "defaults"


def protocol_table(folder: Path, runs: pd.DataFrame) -> pd.DataFrame:
    """One row per arm of the comparison below ``folder`` (``runs``: its evaluation runs, from
    :func:`~suite.papers.frames.load_runs`): the chosen setting, the tuning trials and their summed
    training wall-clock, then exact match and validation loss over the evaluation seeds."""
    if not any(Path(folder).rglob(RECORD)):
        return sweep_table(runs)
    s = record(folder)
    trials = tuning_runs(folder)
    runs = runs[runs["run_dir"].map(in_comparison)]
    rows = []
    for arm in s["methods"]:
        group, tuned = runs[runs["arm"] == arm], trials[trials["arm"] == arm]
        searched = [k for k, v in s["spaces"][arm].items() if v is not None]
        trained = group[group["status"].isin(TRAINED)]
        rows.append(
            {
                "arm": arm,
                "workload": ", ".join(s["workloads"]),
                "chosen setting": chosen_setting(group, searched) if len(group) else "none",
                "trials": len(tuned),
                "tuning compute (s)": round(float(tuned["wall_clock_s"].fillna(0).sum()), 1),
                "seeds": len(group),
                "exact match (%)": interval(
                    pd.to_numeric(trained["eval_exact_match"]), s["n_resamples"], 100.0, 1
                ),
                "EM s.e. per run (pts)": standard_error_points(trained) if len(trained) else "n/a",
                "val loss": interval(trained["final_val_loss"], s["n_resamples"]),
            }
        )
    return pd.DataFrame(rows)


def sweep_table(runs: pd.DataFrame, n_resamples: int = 10_000) -> pd.DataFrame:
    """The same columns for runs of a plain sweep (a paper-scale file run with ``suite-train -m``):
    each arm at its experiment file's setting, untuned (no trials), over the seeds it ran."""
    rows = []
    for arm, group in runs.groupby("arm", sort=False):
        trained = group[group["status"].isin(TRAINED)]
        em = pd.to_numeric(trained["eval_exact_match"])
        val = trained["final_val_loss"] if "final_val_loss" in trained else pd.Series(dtype=float)
        rows.append(
            {
                "arm": arm,
                "workload": "the experiment file's",
                "chosen setting": "untuned (the experiment file's)",
                "trials": 0,
                "tuning compute (s)": 0.0,
                "seeds": len(group),
                "exact match (%)": interval(em, n_resamples, 100.0, 1),
                "EM s.e. per run (pts)": standard_error_points(trained) if len(trained) else "n/a",
                "val loss": interval(val, n_resamples),
            }
        )
    return pd.DataFrame(rows)
