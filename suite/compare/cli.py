"""``suite-compare``: the command line. Everything but ``compare.<key>=...`` is a ``suite-train``
override shared by every run; the settings and every run's job are checked before any runs."""

from __future__ import annotations

import sys
from pathlib import Path

import optuna
from filelock import FileLock, Timeout

from suite.compare import protocol, report
from suite.compare.settings import check_overrides, folder, keep_record, settings, split_argv
from suite.errors import ConfigError
from suite.search.cli import compose_job

USAGE = """usage: suite-compare [compare.<key>=<value> ...] [suite-train override ...]

Tunes every method with the same number of trials on every workload (chosen by validation loss),
reruns the chosen settings on the evaluation seeds, and writes table.md, profile.png and
budget.png to <results_dir>/compare/<name>/. compare.<key> (conf/compare.yaml): name, workloads,
methods, n_trials, tuning_seed, eval_seeds, n_jobs, sampler_seed, n_resamples, spaces.<method>.
Rerunning the same command continues the comparison.
  suite-compare compare.workloads=[micro_math] compare.methods=[adamw,signsgd,alias]"""


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    argv = sys.argv[1:] if argv is None else argv
    if {"-h", "--help"} & set(argv):
        print(USAGE)
        return
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        compare_args, shared = split_argv(argv)
        check_overrides(shared)
        s = settings(compare_args)
        protocol.check_jobs(shared, s)
        results_dir = Path(compose_job(shared).results_dir)
        where = folder(results_dir, s)
        where.mkdir(parents=True, exist_ok=True)
        lock = FileLock(f"{where}/compare.lock")
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise ConfigError(f"the comparison in {where} is being run by another suite-compare") from None
        try:
            keep_record(where, s, shared)
            protocol.run(shared, s, where)
        finally:
            lock.release()
    except ConfigError as err:
        print(f"suite-compare: error: {err}", file=sys.stderr)
        sys.exit(2)
    print(report.write(where, s).read_text())
