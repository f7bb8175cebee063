"""``suite-compare``: methods compared fairly on workloads, as one command.

``suite-compare compare.workloads=[micro_math] compare.methods=[adamw,signsgd,alias]`` tunes every
method with the same number of trials (``compare.n_trials``; a ``suite-search`` study over the
method's declared space, ``compare.spaces``, on the tuning seed, chosen by the validation loss; a
method without an lr, such as ALIAS, runs once and that run is its trial), reruns each chosen
setting on the evaluation seeds (``compare.eval_seeds``, disjoint from the tuning seed), and
writes a table with bootstrap intervals, each method's tuning compute beside its result, a
performance profile of the time to the validation target across workloads and the tuning-budget
curve into ``<results_dir>/compare/<name>/``. Rerunning the same command continues it and starts
nothing that is already done.
"""


def main(argv: list[str] | None = None) -> None:
    """Console entry point (imported on call, so ``python -m suite.compare.report`` loads the
    report module once)."""
    from suite.compare.cli import main as run

    run(argv)
