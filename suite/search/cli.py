"""``suite-search``: the command line. Everything but ``search.<key>=...`` is a ``suite-train``
override shared by every trial; the job and the settings are checked before any trial runs."""

from __future__ import annotations

import sys

import optuna
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig

from suite import preflight
from suite.configs import CONF_DIR
from suite.errors import ConfigError
from suite.search import runner, study
from suite.search.settings import SearchSettings, settings, split_argv

USAGE = """usage: suite-search [search.<key>=<value> ...] [suite-train override ...]

An Optuna search over the method's learning rate (and any search.params); each trial is one
suite-train run of the overrides with its own method.lr. search.<key> (conf/search.yaml):
n_trials, metric (final_train_loss | final_val_loss | eval_exact_match), lr=[low,high],
params.<key>=[low,high], sampler_seed, startup_trials, n_jobs, study_name. Rerunning the same
command continues the stored study.
  suite-search method=signsgd search.n_trials=20 train.max_steps=300"""
SET_BY_THE_SEARCH = ("method.lr", "overwrite", "resume")  # per trial, by the search


def check_overrides(overrides: list[str]) -> None:
    """Plain overrides of one job: no flags, no sweep, nothing the search sets itself."""
    for arg in overrides:
        if arg.startswith("-"):
            raise ConfigError(f"suite-search takes overrides only, not {arg}: a trial is one suite-train job")
    for o in OverridesParser.create().parse_overrides(overrides):
        if o.is_sweep_override():
            raise ConfigError(f"{o.input_line} is a sweep; a trial is one suite-train job: give one value")
        if o.key_or_group in SET_BY_THE_SEARCH:
            raise ConfigError(
                f"{o.key_or_group} is set by the search for each trial (the lr range: search.lr=[low,high])"
            )


def compose_job(overrides: list[str]) -> DictConfig:
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            return compose("config", overrides=overrides)
    finally:
        GlobalHydra.instance().clear()


def prepare(argv: list[str]) -> tuple[DictConfig, list[str], SearchSettings]:
    """The job every trial runs, its overrides and the search's settings, all checked."""
    search_args, overrides = split_argv(argv)
    check_overrides(overrides)
    preflight.check(overrides)
    cfg = compose_job(overrides)
    s = settings(cfg, search_args)
    given = {o.split("=", 1)[0].lstrip("+") for o in overrides}
    for p in s.params:
        if f"method.{p.name}" in given:
            raise ConfigError(f"method.{p.name} is set by the search for each trial (search.params.{p.name})")
    return cfg, overrides, s


def report(found: optuna.Study, s: SearchSettings) -> int:
    """Print every trial and the best; exit status 1 when no trial gave a value."""
    for t in found.get_trials(deepcopy=False):
        value = "n/a" if t.value is None else f"{t.value:.4f}"
        shown = "  ".join(f"{k} {v:.3g}" for k, v in sorted(t.params.items()))
        print(f"  trial {t.number:3d}  {shown}  {t.state.name:8s}  {value}")
    done = found.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not done:
        print(f"suite-search: no trial of {s.study_name} completed", file=sys.stderr)
        return 1
    best = found.best_trial
    run = best.user_attrs["run_name"]
    shown = " ".join(f"{k}={v:.4g}" for k, v in sorted(best.params.items()))
    print(f"best of {len(done)}: {shown} {s.metric}={best.value:.4f} ({run})")
    return 0


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    argv = sys.argv[1:] if argv is None else argv
    if {"-h", "--help"} & set(argv):
        print(USAGE)
        return
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        cfg, overrides, s = prepare(argv)
        path = study.journal_path(cfg, s)
        with study.only_runner(path):
            found = study.open_study(path, s, study.job_fingerprint(cfg))
            print(f"study {s.study_name} ({path}): {len(found.trials)} trials stored, budget {s.n_trials}")
            runner.search(found, s, overrides, path.parent)
    except ConfigError as err:
        print(f"suite-search: error: {err}", file=sys.stderr)
        sys.exit(2)
    sys.exit(report(found, s))
