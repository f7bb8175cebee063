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
from suite.track.store import read_metrics, read_summaries

# The script that runs an artefact's comparison (``experiments/protocol.sh experiment=<artefact>``):
# the command its registration names.
PROTOCOL = "experiments/protocol.sh"
RECORD = "comparison.yaml"  # written by suite-compare beside its workload folders
TUNING_RUN = re.compile(r"(?P<arm>.+)-tuning-\d{3}")
TRAINED = ("ok", "collapsed")  # runs whose numbers count (as suite-compare's report)
LEVEL = 0.95


def records(folder: Path) -> list[dict]:
    """The settings of every comparison below ``folder`` (an artefact may hold several, e.g. one
    per dataset, each run and resumed on its own)."""
    return [OmegaConf.to_container(OmegaConf.load(p))["settings"] for p in sorted(Path(folder).rglob(RECORD))]


def workload_of(run_dir: str | Path) -> str:
    """A comparison's run lives in ``<results_dir>/compare/<name>/<workload>/<run>``."""
    return Path(run_dir).parent.name


def comparison_of(run_dir: str | Path) -> str:
    """The name of the comparison a run belongs to (see :func:`workload_of`)."""
    return Path(run_dir).parent.parent.name


def tuning_runs(folder: Path) -> pd.DataFrame:
    """One row per tuning trial: its workload, arm, status, final validation loss and training
    wall-clock."""
    rows = []
    for run in read_summaries(folder):
        found = TUNING_RUN.fullmatch(str(run.get("run_name")))
        if protocol_arm(run) == "" and found:
            rows.append(
                {
                    "comparison": comparison_of(run["run_dir"]),
                    "workload": workload_of(run["run_dir"]),
                    "arm": found["arm"],
                    **{k: run.get(k) for k in ("status", "final_val_loss", "wall_clock_s")},
                }
            )
    columns = ["comparison", "workload", "arm", "status", "final_val_loss", "wall_clock_s"]
    return pd.DataFrame(rows, columns=columns)


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


def time_to_val_target(runs: pd.DataFrame) -> pd.Series:
    """Each run's training wall-clock to the workload's validation target (inf: not reached)."""
    reached = runs["val_target_reached"].eq(True) if "val_target_reached" in runs else False
    times = pd.to_numeric(runs.get("time_to_val_target_s"), errors="coerce")
    return times.where(reached, math.inf).astype(float)


def median_time(times: pd.Series) -> str:
    """The median over seeds of a time to target, "did not reach" when the median run missed."""
    median = float(np.median(times.to_numpy())) if len(times) else math.inf
    return "did not reach" if math.isinf(median) else f"{median:.1f}"


def _protocol_row(s: dict, arm: str, workload: str, group: pd.DataFrame, tuned: pd.DataFrame) -> dict:
    searched = [k for k, v in s["spaces"][arm].items() if v is not None]
    trained = group[group["status"].isin(TRAINED)]
    times = time_to_val_target(group)
    return {
        "arm": arm,
        "comparison": s["name"],
        "workload": workload,
        "chosen setting": chosen_setting(group, searched) if len(group) else "none",
        "trials": len(tuned),
        "tuning compute (s)": round(float(tuned["wall_clock_s"].fillna(0).sum()), 1),
        "seeds": len(group),
        "exact match (%)": interval(pd.to_numeric(trained["eval_exact_match"]), s["n_resamples"], 100.0, 1),
        "EM s.e. per run (pts)": standard_error_points(trained) if len(trained) else "n/a",
        "val loss": interval(trained["final_val_loss"], s["n_resamples"]),
        "time to val target (s, median)": median_time(times),
        "reached": f"{int(np.isfinite(times).sum())}/{len(group)}",
    }


def protocol_table(folder: Path, runs: pd.DataFrame) -> pd.DataFrame:
    """One row per workload and arm of the comparison below ``folder`` (``runs``: its evaluation
    runs, from :func:`~suite.papers.frames.load_runs`): the chosen setting, the tuning trials and
    their summed training wall-clock, then exact match, validation loss and the time to the
    workload's validation target over the evaluation seeds."""
    found = records(folder)
    if not found:
        return sweep_table(runs)
    trials = tuning_runs(folder)
    runs = runs[runs["run_dir"].map(in_comparison)]
    runs = runs.assign(
        comparison=runs["run_dir"].map(comparison_of), workload=runs["run_dir"].map(workload_of)
    )
    rows = []
    for s in found:
        for workload in s["workloads"]:
            for arm in s["methods"]:
                key = ["comparison", "workload", "arm"]
                group = runs[(runs[key] == (s["name"], workload, arm)).all(axis=1)]
                tuned = trials[(trials[key] == (s["name"], workload, arm)).all(axis=1)]
                rows.append(_protocol_row(s, arm, workload, group, tuned))
    return pd.DataFrame(rows)


def arm_row(folder: Path, runs: pd.DataFrame, group: pd.DataFrame) -> pd.Series:
    """The :func:`protocol_table` row of one arm's evaluation runs (``group``, a part of ``runs``
    on one workload); without a comparison below ``folder`` (a plain sweep), the same columns from
    ``group`` itself, untuned (:func:`sweep_table`)."""
    if not records(folder):
        return sweep_table(group).iloc[0]
    table = protocol_table(folder, runs)
    run_dir = group["run_dir"].iloc[0]
    key = (group["arm"].iloc[0], comparison_of(run_dir), workload_of(run_dir))
    return table[(table[["arm", "comparison", "workload"]] == key).all(axis=1)].iloc[0]


def val_curves(runs: pd.DataFrame, keys: tuple[str, ...] = ("arm", "data", "seed")) -> pd.DataFrame:
    """Every run's validation losses (``loss``) with the training wall-clock logged at the same
    step (``wall_clock_s``; the validation itself is off the clock), the steps so far times the
    run's median step time (``median_clock_s``: a clock that a busy machine's stalls do not move),
    the run's ``run_dir`` and ``keys``."""
    frames = []
    for _, run in runs.iterrows():
        rows = read_metrics(run["run_dir"])
        clock = {m["train/step"]: m["train/wall_clock_s"] for m in rows if "train/wall_clock_s" in m}
        val = [(m["train/step"], m["val/loss"]) for m in rows if "val/loss" in m]
        frame = pd.DataFrame(val, columns=["step", "loss"])
        frame["wall_clock_s"] = frame["step"].map(clock)
        frame["median_clock_s"] = frame["step"] * run["step_time_median_s"]
        frame["run_dir"] = run["run_dir"]
        for key in keys:
            frame[key] = run.get(key)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def time_to_val_loss(curve: pd.DataFrame, target: float, clock: str = "wall_clock_s") -> float:
    """The ``clock`` at the first validation whose loss is at or below ``target`` (inf if none)."""
    hit = curve[clock][curve["loss"] <= target + 1e-12]
    return float(hit.iloc[0]) if len(hit) else math.inf


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
