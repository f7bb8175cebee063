"""The search loop, Optuna's ask-and-tell: trials the study holds as running (an interrupted
search) run again with their own lr, then new trials are asked for until the study holds
``n_trials``; up to ``n_jobs`` run at once, each told its result as it finishes."""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from suite.search.settings import SearchSettings
from suite.search.trials import Outcome, Planned, run_name, run_trial

FINISHED = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)


def others(params: dict[str, float]) -> tuple[tuple[str, float], ...]:
    """A trial's settings beside its lr, in a fixed order."""
    return tuple(sorted((k, v) for k, v in params.items() if k != "lr"))


def interrupted(study: optuna.Study) -> list[Planned]:
    """Trials a killed search left running, to be run again with the settings they were given."""
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    return [
        Planned(t.number, t.params["lr"], t.user_attrs["run_name"], rerun=True, others=others(t.params))
        for t in stale
    ]


def n_new(study: optuna.Study, s: SearchSettings, resumed: int) -> int:
    """How many trials to ask for: the budget less what the study holds."""
    held = len(study.get_trials(deepcopy=False, states=FINISHED)) + resumed
    return max(0, s.n_trials - held)


def ask(study: optuna.Study, s: SearchSettings) -> Planned:
    """A new trial, its lr drawn by the sampler from the log-uniform range (and each of
    ``s.params`` from its own)."""
    space = {"lr": FloatDistribution(s.lr_low, s.lr_high, log=True)}
    space |= {p.name: FloatDistribution(p.low, p.high, log=p.log) for p in s.params}
    trial = study.ask(space)
    name = run_name(s.study_name, trial.number)
    trial.set_user_attr("run_name", name)
    return Planned(trial.number, trial.params["lr"], name, others=others(trial.params))


def tell(study: optuna.Study, s: SearchSettings, trial: Planned, result: Outcome) -> None:
    """The trial's metric to the study, or a failure (no usable value) that still counts."""
    if result.value is None:
        study.tell(trial.number, state=TrialState.FAIL)
    else:
        study.tell(trial.number, result.value)
    shown = "n/a" if result.value is None else f"{result.value:.4f}"
    got = f"{s.metric} {shown} ({result.status})"
    print(f"trial {trial.number}: {described(trial)} -> {got} {result.run_dir}", flush=True)


def described(trial: Planned) -> str:
    """``lr=0.001 weight_decay=0.05``: the trial's settings."""
    return " ".join(f"{key}={value:.3g}" for key, value in (("lr", trial.lr), *trial.others))


def search(study: optuna.Study, s: SearchSettings, overrides: list[str], experiment_dir: Path) -> None:
    """Run the study's missing trials, ``n_jobs`` at a time."""
    queue = interrupted(study)
    new = n_new(study, s, len(queue))
    running: dict[Future, Planned] = {}
    with ThreadPoolExecutor(max_workers=s.n_jobs) as pool:
        while queue or new or running:
            while len(running) < s.n_jobs and (queue or new):
                if queue:
                    trial = queue.pop(0)
                else:
                    trial, new = ask(study, s), new - 1
                print(f"trial {trial.number}: {described(trial)} running as {trial.run_name}", flush=True)
                job = pool.submit(run_trial, overrides, trial, experiment_dir, s.metric, s.n_jobs)
                running[job] = trial
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for job in done:
                tell(study, s, running.pop(job), job.result())
