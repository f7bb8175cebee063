"""The stored study: Optuna's ``JournalStorage`` with a file in the results store, opened so that a
rerun continues it, and the checks that a continued study is the same search over the same job."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from filelock import FileLock, Timeout
from omegaconf import DictConfig, OmegaConf
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from suite.errors import ConfigError
from suite.search.settings import SearchSettings

# Keys of the composed job that differ between trials or do not change what a trial computes (a
# method's traits declare how the suite treats it, never reach its builder: suite/traits.py).
# The experiment's folder is the study's own (the journal lies in it).
NOT_COMPARED = (
    "run_name",
    "method.lr",
    "method.traits",
    "overwrite",
    "results_dir",
    "experiment_name",
    "search",
    "logger",
)


def journal_path(cfg: DictConfig, s: SearchSettings) -> Path:
    """``<results_dir>/<experiment_name>/<study_name>.journal``: the study beside its trials' runs."""
    return Path(cfg.results_dir) / cfg.experiment_name / f"{s.study_name}.journal"


def flat(node: Any, prefix: str = "") -> dict[str, Any]:
    """A nested dict as ``{"a.b": value}``."""
    if isinstance(node, dict) and node:
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(flat(value, f"{prefix}{key}."))
        return out
    return {prefix.removesuffix("."): node}


def compared(values: dict[str, Any]) -> dict[str, Any]:
    """The settings that change what a trial computes (``NOT_COMPARED`` left out)."""
    return {k: v for k, v in values.items() if not any(k == n or k.startswith(n + ".") for n in NOT_COMPARED)}


def job_fingerprint(cfg: DictConfig) -> dict[str, Any]:
    """The composed job's settings that every trial of a study shares."""
    return compared(flat(OmegaConf.to_container(cfg, resolve=True)))


def _first_difference(stored: dict[str, Any], now: dict[str, Any]) -> str | None:
    for key in sorted(set(stored) | set(now)):
        if stored.get(key) != now.get(key):
            return f"{key}={stored.get(key)!r} (now {now.get(key)!r})"
    return None


def check_same_search(study: optuna.Study, s: SearchSettings, job: dict[str, Any]) -> None:
    """A stored study continues only with the settings and the job it was started with."""
    for what, now in (("search", s.stored()), ("job", job)):
        stored = study.user_attrs[what]
        diff = _first_difference(compared(stored) if what == "job" else stored, now)
        if diff is not None:
            raise ConfigError(
                f"study {s.study_name} was started with {what} setting {diff}; rerun it with its own "
                f"settings, or start another with search.study_name=<name>"
            )


def open_study(path: Path, s: SearchSettings, job: dict[str, Any]) -> optuna.Study:
    """The study stored at ``path``, created on the first run and loaded (and checked) after."""
    path.parent.mkdir(parents=True, exist_ok=True)
    storage = JournalStorage(JournalFileBackend(str(path)))
    study = optuna.create_study(
        storage=storage,
        sampler=sampler(s, 0),
        study_name=s.study_name,
        direction=s.direction,
        load_if_exists=True,
    )
    if "search" not in study.user_attrs:
        study.set_user_attr("search", s.stored())
        study.set_user_attr("job", job)
        if s.startup == "latin":
            for point in latin_design(s):
                study.enqueue_trial(point)
    check_same_search(study, s, job)
    held = len(study.get_trials(deepcopy=False))
    if held:
        study.sampler = sampler(s, held)
    return study


def latin_design(s: SearchSettings) -> list[dict[str, float]]:
    """The first ``min(startup_trials, n_trials)`` trials as a centred Latin hypercube (McKay,
    Beckman & Conover, Technometrics 1979): each setting's range cut into that many equal strata
    (the lr's, and a log-uniform setting's, in log space), one trial at the centre of each, the
    strata of the lr in order and of every other setting in a permutation seeded by
    ``sampler_seed``."""
    n = min(s.startup_trials, s.n_trials)
    centres = (np.arange(n) + 0.5) / n
    rng = np.random.default_rng(s.sampler_seed)
    axes = {"lr": (s.lr_low, s.lr_high, True, centres)}
    for p in s.params:
        axes[p.name] = (p.low, p.high, p.log, rng.permutation(centres))
    design = []
    for k in range(n):
        point = {}
        for name, (low, high, log, u) in axes.items():
            if log:
                point[name] = float(math.exp(math.log(low) + u[k] * (math.log(high) - math.log(low))))
            else:
                point[name] = float(low + u[k] * (high - low))
        design.append(point)
    return design


def sampler(s: SearchSettings, held: int) -> optuna.samplers.TPESampler:
    """TPE seeded with ``sampler_seed`` plus the trials the study held when this process opened it:
    a new study draws as it always has, a continued one (a rerun, a larger budget) draws new points
    instead of its first process's again (TPE reads the history from the journal; only its random
    generator lives in the process)."""
    return optuna.samplers.TPESampler(
        seed=s.sampler_seed + held, n_startup_trials=s.startup_trials, constant_liar=True
    )


@contextlib.contextmanager
def only_runner(path: Path) -> Iterator[None]:
    """Hold the study for this process, so the trials it finds running were interrupted, not
    running elsewhere; a second ``suite-search`` of the same study stops with one line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(f"{path}.runner.lock")  # Optuna's own journal lock is <path>.lock
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise ConfigError(f"the study in {path} is being run by another suite-search") from None
    try:
        yield
    finally:
        lock.release()
