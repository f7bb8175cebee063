"""The comparison's results from its runs: a table with intervals over the evaluation seeds and
each method's tuning compute beside them, a performance profile of the time to the validation
target across workloads, and the tuning-budget curve.

``python -m suite.compare.report results/compare/<name>`` writes ``table.md``/``table.tex``,
``trials.csv``, ``runs.csv``, ``profile.png`` and ``budget.png`` there (``suite-compare`` does it
after its runs).

- Intervals: percentile bootstrap over the evaluation seeds (:func:`suite.stats.bootstrap_ci`).
- Exact match: besides the seeds' interval, the standard error of one run's score over its n test
  problems, sqrt(p(1-p)/n), in points.
- Performance profile (Dolan & Moré, arXiv cs/0102001; AlgoPerf, arXiv 2306.07179): a method's
  time on a workload is the median over its evaluation seeds of the training time to the
  validation target, infinite when the median run did not reach it.
- Tuning-budget curve (Dodge et al., arXiv 1909.03004, eq. 1): the expected best validation loss
  after k of the trials run, with its bootstrap band; a method run once is flat.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from suite import stats
from suite.compare import protocol
from suite.compare.settings import RECORD, CompareSettings, from_record
from suite.papers.frames import plt, write_figure, write_table
from suite.track.store import CONFIG, SUMMARY

TAUS = np.linspace(1.0, 4.0, 301)  # AlgoPerf's profiles run to tau = 4
LEVEL = 0.95
TRAINED = ("ok", "collapsed")  # runs whose numbers count; any other run is a miss


def summary(run_dir: Path) -> dict:
    path = run_dir / SUMMARY
    return json.loads(path.read_text()) if path.is_file() else {"status": "not run"}


def n_problems(run_dir: Path) -> int | None:
    """How many test problems the run's exact match was scored on."""
    if not (run_dir / CONFIG).is_file():
        return None
    cfg = OmegaConf.load(run_dir / CONFIG)
    n_test = cfg.data.get("n_test")
    return cfg.eval.n_examples if n_test is None else min(cfg.eval.n_examples, n_test)


def trials_frame(s: CompareSettings, folder: Path) -> pd.DataFrame:
    """One row per tuning trial: workload, method, trial, its setting, state, validation loss
    (the study's value; NaN where none) and training wall-clock."""
    rows = []
    for workload in s.workloads:
        where = folder / workload
        for method in s.methods:
            if not s.spaces[method].tuned:
                run = summary(where / protocol.once_name(method))
                value = run.get("final_val_loss") if run["status"] in TRAINED else None
                found = [(0, "defaults", run["status"], value, protocol.once_name(method))]
            else:
                journal = where / f"{protocol.study_name(method)}.journal"
                trials = protocol.load_study(journal).get_trials(deepcopy=False) if journal.is_file() else []
                found = [
                    (t.number, setting(t.params), t.state.name, t.value, t.user_attrs["run_name"])
                    for t in trials
                ]
            for number, shown, state, value, name in found:
                wall = summary(where / name).get("wall_clock_s") or 0.0
                rows.append(
                    {
                        "workload": workload,
                        "method": method,
                        "trial": number,
                        "setting": shown,
                        "state": state,
                        "val_loss": math.nan if value is None else value,
                        "wall_clock_s": wall,
                    }
                )
    return pd.DataFrame(
        rows, columns=["workload", "method", "trial", "setting", "state", "val_loss", "wall_clock_s"]
    )


def setting(params: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.3g}" for k, v in sorted(params.items())) or "defaults"


def runs_frame(s: CompareSettings, folder: Path) -> pd.DataFrame:
    """One row per evaluation run: its status, validation loss, exact match (and on how many
    problems), time to the validation target (inf: not reached), wall-clock and memory."""
    rows = []
    for workload in s.workloads:
        for method in s.methods:
            for seed in s.eval_seeds:
                run_dir = folder / workload / protocol.eval_name(method, seed)
                run = summary(run_dir)
                trained = run["status"] in TRAINED
                reached = trained and run.get("val_target_reached") is True
                rows.append(
                    {
                        "workload": workload,
                        "method": method,
                        "seed": seed,
                        "status": run["status"],
                        "val_loss": run.get("final_val_loss") if trained else math.nan,
                        "exact_match": run.get("eval_exact_match") if trained else math.nan,
                        "n_problems": n_problems(run_dir),
                        "time_to_val_target_s": run["time_to_val_target_s"] if reached else math.inf,
                        "wall_clock_s": run.get("wall_clock_s"),
                        "mem_total_bytes": run.get("mem_total_bytes"),
                    }
                )
    return pd.DataFrame(rows).astype({"val_loss": float, "exact_match": float})


def interval(values: pd.Series, s: CompareSettings, scale: float = 1.0, digits: int = 3) -> str:
    """``mean [low, high]`` over the finite values (their count shown when some are missing)."""
    kept = values[np.isfinite(values)] * scale
    if kept.empty:
        return "n/a"
    ci = stats.bootstrap_ci(kept.to_numpy(), "mean", LEVEL, s.n_resamples, seed=0)
    missing = "" if len(kept) == len(values) else f" ({len(kept)} of {len(values)} seeds)"
    return f"{ci.estimate:.{digits}f} [{ci.low:.{digits}f}, {ci.high:.{digits}f}]{missing}"


def standard_error_points(runs: pd.DataFrame) -> str:
    """One run's exact-match standard error over its n problems, sqrt(p(1-p)/n) in points at the
    seeds' mean p, and its bound at any accuracy, sqrt(0.25/n)."""
    kept = runs[np.isfinite(runs["exact_match"])]
    if kept.empty or not kept["n_problems"].min():
        return "n/a"
    p, n = kept["exact_match"].mean(), int(kept["n_problems"].min())
    return f"{100 * math.sqrt(p * (1 - p) / n):.2f} (<= {100 * math.sqrt(0.25 / n):.2f}, n={n})"


def median_time(times: pd.Series) -> float:
    """The median over seeds of the time to target; inf when the median run did not reach it."""
    return float(np.median(times.to_numpy())) if len(times) else math.inf


def table(s: CompareSettings, trials: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """One row per workload and method: the chosen setting and what finding it cost, then the
    evaluation seeds' results with their intervals."""
    rows = []
    for (workload, method), group in runs.groupby(["workload", "method"], sort=False):
        tuned = trials[(trials.workload == workload) & (trials.method == method)]
        done = tuned.dropna(subset=["val_loss"])
        best = done.loc[done["val_loss"].idxmin(), "setting"] if len(done) else "none"
        time = median_time(group["time_to_val_target_s"])
        reached = int(np.isfinite(group["time_to_val_target_s"]).sum())
        mem = group["mem_total_bytes"].dropna()
        rows.append(
            {
                "workload": workload,
                "method": method,
                "chosen setting": best,
                "trials": len(tuned),
                "tuning compute (s)": round(float(tuned["wall_clock_s"].sum()), 1),
                "seeds": len(group),
                "val loss": interval(group["val_loss"], s),
                "exact match (%)": interval(group["exact_match"], s, 100.0, 1),
                "EM s.e. per run (pts)": standard_error_points(group),
                "time to val target (s, median)": "did not reach" if math.isinf(time) else f"{time:.1f}",
                "reached": f"{reached}/{len(group)}",
                "memory (MiB)": f"{mem.mean() / 2**20:.2f}" if len(mem) else "n/a",
            }
        )
    return pd.DataFrame(rows)


def caption(s: CompareSettings) -> str:
    seeds = ", ".join(map(str, s.eval_seeds))
    return (
        f"Every method tuned with {s.n_trials} trials (a method without an lr: one run at its defaults) "
        f"on seed {s.tuning_seed}, chosen by validation loss, then rerun on seeds {seeds}. Intervals: "
        f"{LEVEL:.0%} percentile bootstrap of the mean over the seeds ({s.n_resamples} resamples). "
        "Tuning compute: the summed training wall-clock of the method's trials. Memory: params + grads "
        "+ state + activations as the suite measures them, mean over the seeds."
    )


def profile_times(s: CompareSettings, runs: pd.DataFrame) -> pd.DataFrame:
    """Workloads x methods: the median time to the validation target (inf: not reached)."""
    times = runs.groupby(["workload", "method"], sort=False)["time_to_val_target_s"].apply(median_time)
    return times.unstack("method").reindex(index=list(s.workloads), columns=list(s.methods))


def profile_figure(profile: pd.DataFrame, n_workloads: int) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for method in profile.columns:
        ax.plot(profile.index, profile[method], drawstyle="steps-post", label=method)
    ax.set(
        xlabel="τ (time to the validation target / the fastest method's)",
        ylabel=f"fraction of {n_workloads} workload(s)",
        ylim=(-0.03, 1.03),
        xlim=(1, TAUS[-1]),
    )
    ax.set_title("Performance profile: time to the validation target", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def budget_figure(s: CompareSettings, trials: pd.DataFrame) -> plt.Figure:
    """Per workload, each method's expected best validation loss after k trials, with its band."""
    ks = list(range(1, s.n_trials + 1))
    fig, axes = plt.subplots(1, len(s.workloads), figsize=(4.6 * len(s.workloads), 3.4), squeeze=False)
    for ax, workload in zip(axes[0], s.workloads, strict=True):
        for method in s.methods:
            values = trials[(trials.workload == workload) & (trials.method == method)]["val_loss"].dropna()
            if values.empty:
                continue
            curve = stats.tuning_budget_curve(values.to_numpy(), ks, False, s.n_resamples, seed=0)
            label = method if s.spaces[method].tuned else f"{method} (no lr: 1 run)"
            (line,) = ax.plot(curve["k"], curve["mean"], marker="o", ms=3, label=label)
            ax.fill_between(curve["k"], curve["low"], curve["high"], color=line.get_color(), alpha=0.2)
        ax.set(xlabel="tuning trials k", ylabel="expected best validation loss", xticks=ks)
        ax.set_title(workload, fontsize=10)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def write(folder: Path, s: CompareSettings | None = None) -> Path:
    """The table, the frames and both figures in ``folder``; returns the table's path."""
    if s is None:
        s, _ = from_record(OmegaConf.to_container(OmegaConf.load(folder / RECORD)))
    trials, runs = trials_frame(s, folder), runs_frame(s, folder)
    trials.to_csv(folder / "trials.csv", index=False)
    runs.to_csv(folder / "runs.csv", index=False)
    path = write_table(table(s, trials, runs), folder, caption(s))
    profile = stats.performance_profile(profile_times(s, runs), TAUS)
    write_figure(profile_figure(profile, len(s.workloads)), folder, "profile")
    write_figure(budget_figure(s, trials), folder, "budget")
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m suite.compare.report", description=__doc__.splitlines()[0]
    )
    parser.add_argument("folder", type=Path, help="the comparison's folder, e.g. results/compare/default")
    args = parser.parse_args(argv)
    print(write(args.folder).read_text())


if __name__ == "__main__":
    main()
