"""The protocol's runs: every method tuned on every workload with the same budget (a
``suite-search`` study on the tuning seed, chosen by the validation loss; a method without an lr
runs once), then each chosen setting rerun on the evaluation seeds. Every run is a ``suite-train``
process in ``<results_dir>/compare/<name>/<workload>/``; a rerun starts only what is missing."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import optuna
from omegaconf import OmegaConf

from suite import preflight
from suite.compare.settings import CompareSettings, Space
from suite.errors import ConfigError
from suite.search import cli as search_cli
from suite.search import runner, study
from suite.search.trials import SUITE_TRAIN, launch
from suite.track.store import CONFIG, SUMMARY

METRIC = "final_val_loss"  # what a study chooses by: the validation loss after the last step
UNFINISHED = ("running", "interrupted")  # a run that a rerun replaces


def load_study(journal: Path) -> optuna.Study:
    """The study stored in ``journal`` (named by the file, as ``suite-search`` names it)."""
    storage = study.JournalStorage(study.JournalFileBackend(str(journal)))
    return optuna.load_study(study_name=journal.stem, storage=storage)


def study_name(method: str) -> str:
    return f"{method}-tuning"


def once_name(method: str) -> str:
    """The one tuning run of a method without an lr (named like a study's first trial)."""
    return f"{study_name(method)}-000"


def eval_name(method: str, seed: int) -> str:
    return f"{method}-eval-seed{seed}"


def job(shared: list[str], s: CompareSettings, workload: str, method: str, seed: int) -> list[str]:
    """The overrides of one run of ``method`` on ``workload`` at ``seed`` (before its own settings)."""
    placed = [f"workload={workload}", *s.method_args(method), f"seed={seed}"]
    return [*shared, *placed, f"experiment_name={workload}"]


def tuning_job(shared: list[str], s: CompareSettings, workload: str, method: str) -> list[str]:
    """A tuning trial: no exact match (it chooses by the validation loss, never the test split)."""
    return [*job(shared, s, workload, method, s.tuning_seed), "eval.n_examples=0"]


def check_jobs(shared: list[str], s: CompareSettings) -> None:
    """Every run the comparison will make composes and validates, and every workload has a
    validation target, before any compute."""
    for workload in s.workloads:
        for method in s.methods:
            overrides = job(shared, s, workload, method, s.tuning_seed)
            preflight.check(overrides)
            train = search_cli.compose_job(overrides).train
            if not train.val_every or train.val_target_loss is None:
                raise ConfigError(
                    f"workload {workload} has no validation target: set train.val_every and "
                    f"train.val_target_loss in conf/workload/{workload}.yaml (or on the command line)"
                )


def finished(run_dir: Path) -> bool:
    """Whether the run folder holds a run that ended (well or not): a rerun leaves it alone."""
    path = run_dir / SUMMARY
    return path.is_file() and json.loads(path.read_text()).get("status") not in UNFINISHED


def tune(shared: list[str], s: CompareSettings, workload: str, method: str, where: Path) -> None:
    """Run the method's missing tuning trials on the workload (``where``: its folder)."""
    space = s.spaces[method]
    base = tuning_job(shared, s, workload, method)
    if not space.tuned:
        name = once_name(method)
        if not finished(where / name):
            print(f"{workload}/{method}: no lr to tune, one run at its defaults as {name}", flush=True)
            launch(argv(base, {}, name, where), where / name, 1)
        return
    options = [
        f"search.n_trials={s.n_trials}",
        f"search.metric={METRIC}",
        f"search.study_name={study_name(method)}",
        f"search.sampler_seed={s.sampler_seed}",
        "search.startup=latin",  # a few trials cover the space evenly, the same points for every method
        f"search.n_jobs={s.n_jobs}",
    ]
    cfg, overrides, search = search_cli.prepare([*base, *options, *space.search_args()])
    path = study.journal_path(cfg, search)
    with study.only_runner(path):
        found = study.open_study(path, search, study.job_fingerprint(cfg))
        print(f"{workload}/{method}: {len(found.trials)} trials stored, budget {s.n_trials}", flush=True)
        runner.search(found, search, overrides, path.parent)


def chosen(where: Path, method: str, space: Space) -> dict[str, float] | None:
    """The setting the method's tuning chose ({} for a method run at its defaults), or None when
    no trial gave a validation loss."""
    if not space.tuned:
        return {} if finished(where / once_name(method)) else None
    done = load_study(where / f"{study_name(method)}.journal").get_trials(
        deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)
    )
    return dict(min(done, key=lambda t: t.value).params) if done else None


def argv(overrides: list[str], params: dict[str, float], name: str, where: Path) -> list[str]:
    """The ``suite-train`` command line of one run, replacing an unfinished attempt."""
    again = ["overwrite=true"] if (where / name).exists() and not finished(where / name) else []
    settings = [f"method.{key}={value!r}" for key, value in sorted(params.items())]
    return [*SUITE_TRAIN, *overrides, *settings, f"run_name={name}", *again]


def check_stale(run_dir: Path, params: dict[str, float]) -> None:
    """An evaluation run made with another setting than the one chosen now is refused."""
    config = OmegaConf.load(run_dir / CONFIG)
    for key, value in params.items():
        if config.method.get(key) != value:
            raise ConfigError(
                f"{run_dir} ran with method.{key}={config.method.get(key)!r} but the tuning now "
                f"chooses {value!r}; remove the evaluation runs or use another compare.name"
            )


def evaluations(shared: list[str], s: CompareSettings, workload: str, where: Path) -> list[tuple]:
    """The (command line, run folder) of every evaluation run still missing on the workload."""
    missing = []
    for method in s.methods:
        params = chosen(where, method, s.spaces[method])
        if params is None:
            print(f"{workload}/{method}: no tuning trial gave a validation loss; not evaluated", flush=True)
            continue
        for seed in s.eval_seeds:
            name = eval_name(method, seed)
            if finished(where / name):
                check_stale(where / name, params)
                continue
            missing.append((argv(job(shared, s, workload, method, seed), params, name, where), where / name))
    return missing


def run(shared: list[str], s: CompareSettings, root: Path) -> None:
    """Tune, then evaluate, on every workload, each in its folder under ``root`` (the
    comparison's folder, given to every run as its ``results_dir``); up to ``n_jobs`` at once."""
    shared = [*shared, f"results_dir={root}"]
    for workload in s.workloads:
        where = root / workload
        for method in s.methods:
            tune(shared, s, workload, method, where)
        missing = evaluations(shared, s, workload, where)
        print(f"{workload}: {len(missing)} evaluation runs to make", flush=True)
        with ThreadPoolExecutor(max_workers=s.n_jobs) as pool:
            for command, run_dir in missing:
                print(f"  running {run_dir.name}", flush=True)
                pool.submit(launch, command, run_dir, s.n_jobs)
