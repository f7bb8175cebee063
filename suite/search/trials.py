"""One trial: an ordinary ``suite-train`` run with the trial's lr, in its own process, recorded in
the results store like any other run; its outcome is read back from its ``summary.json``."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from suite.track.store import write_atomic

SUITE_TRAIN = [sys.executable, "-c", "from suite.train import main; main()"]
# Runs that trained to the end: a collapsed run's rising loss is a real (bad) value for the sampler.
TRAINED = ("ok", "collapsed")


@dataclass(frozen=True)
class Planned:
    """A trial to run: its number in the study, its lr, the run it writes, whether it runs again
    (an interrupted search's trial, whose folder holds the unfinished attempt), and the other
    method settings it was given (``search.params``)."""

    number: int
    lr: float
    run_name: str
    rerun: bool = False
    others: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Outcome:
    """What the trial's run recorded: the metric (None unless the run trained to the end and the
    value is finite), its status, its training wall-clock and where it is."""

    value: float | None
    status: str
    wall_clock_s: float | None
    run_dir: Path


def run_name(study_name: str, number: int) -> str:
    return f"{study_name}-{number:03d}"


def command(overrides: list[str], trial: Planned) -> list[str]:
    """The ``suite-train`` command line of a trial: the search's job with the trial's settings and
    name (replacing the unfinished attempt of a trial that runs again)."""
    again = ["overwrite=true"] if trial.rerun else []
    settings = [f"method.{key}={value!r}" for key, value in (("lr", trial.lr), *trial.others)]
    return [*SUITE_TRAIN, *overrides, *settings, f"run_name={trial.run_name}", *again]


def threads_env(n_jobs: int) -> dict[str, str]:
    """The trial's environment: with several trials at once each gets its share of the cores
    (OpenMP reads ``OMP_NUM_THREADS`` when torch loads), unless the caller set it already."""
    env = dict(os.environ)
    if n_jobs > 1 and "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // n_jobs))
    return env


def outcome(run_dir: Path, metric: str) -> Outcome:
    """The trial's result from its run's summary (status ``failed`` if it wrote none)."""
    path = run_dir / "summary.json"
    if not path.is_file():
        return Outcome(None, "failed", None, run_dir)
    summary = json.loads(path.read_text())
    value = summary.get(metric)
    usable = summary["status"] in TRAINED and isinstance(value, (int, float)) and math.isfinite(value)
    return Outcome(float(value) if usable else None, summary["status"], summary.get("wall_clock_s"), run_dir)


def run_trial(
    overrides: list[str], trial: Planned, experiment_dir: Path, metric: str, n_jobs: int
) -> Outcome:
    """Run the trial as ``suite-train`` and read its outcome; the process's output is kept in the
    run folder as ``suite-train.log``."""
    run_dir = experiment_dir / trial.run_name
    launch(command(overrides, trial), run_dir, n_jobs)
    return outcome(run_dir, metric)


def launch(argv: list[str], run_dir: Path, n_jobs: int) -> None:
    """Run one ``suite-train`` command line in its own process, its output kept in the run
    folder as ``suite-train.log``."""
    proc = subprocess.run(argv, env=threads_env(n_jobs), capture_output=True, text=True, check=False)
    write_atomic(run_dir / "suite-train.log", proc.stdout + proc.stderr)
