"""Hydra's joblib launcher, made to survive a lost worker (``hydra/launcher=joblib``).

``joblib.Parallel`` runs a multirun's jobs on one shared pool of loky workers: when one worker dies
without a word (``kill -9``, the kernel's OOM killer) the pool is broken, loky kills the other
workers and the queued jobs never start. Here each of the ``n_jobs`` slots has a pool of its own
with one worker, so a lost worker ends only its job: that job's ``summary.json`` says ``killed``
(with the signal), the other jobs run to completion, and the multirun then exits non-zero naming
the lost job (Hydra raises the first failed job's error after the sweep). ``suite-train`` installs
this (:func:`survive_lost_workers`) before Hydra starts.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
from collections.abc import Sequence

from hydra.core.plugins import Plugins
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, setup_globals
from hydra_plugins.hydra_joblib_launcher._core import execute_job
from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher
from joblib import cpu_count
from joblib.externals.loky import ProcessPoolExecutor
from joblib.externals.loky.process_executor import TerminatedWorkerError
from joblib.parallel import ParallelBackendBase

from suite.track.record import RunSummary
from suite.track.store import RunFolder, run_folder

log = logging.getLogger(__name__)


class LostWorker(RuntimeError):
    """A job whose worker process died before it could record anything."""


def survive_lost_workers() -> None:
    """Make ``hydra/launcher=joblib`` run sweeps with :func:`launch`: hydra-joblib-launcher's
    launcher keeps its name, config and keys, and its one ``launch`` function is replaced (Hydra
    only loads launchers from its plugin namespace). Hydra executes its plugins' modules once, when
    it first looks for plugins, so that comes first."""
    Plugins.instance()
    from hydra_plugins.hydra_joblib_launcher import _core

    _core.launch = launch


def slots(launcher: JoblibLauncher, n_jobs_to_run: int) -> int:
    """``hydra.launcher.n_jobs`` in joblib's meaning (-1: every core), at most one per job."""
    n = int(launcher.joblib.get("n_jobs") or 1)
    if n < 0:
        n = max(1, cpu_count() + 1 + n)
    return max(1, min(n, n_jobs_to_run))


def worker_env(n_slots: int) -> dict[str, str]:
    """What ``joblib.Parallel`` gives its workers: cores / n_jobs threads for each thread pool
    (OpenMP, BLAS, ...), unless the variable is set already."""
    share = str(max(1, cpu_count() // n_slots))
    return {var: os.environ.get(var, share) for var in ParallelBackendBase.MAX_NUM_THREADS_VARS}


def launch(
    launcher: JoblibLauncher, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
) -> Sequence[JobReturn]:
    """The jobs ``n_jobs`` at a time, each slot in its own one-worker loky pool; a worker lost to a
    signal is recorded (:func:`lost`) and replaced."""
    setup_globals()
    configure_log(launcher.config.hydra.hydra_logging, launcher.config.hydra.verbose)
    n_slots = slots(launcher, len(job_overrides))
    log.info(
        "Joblib launcher (n_jobs=%d, a worker per slot) is launching %d jobs", n_slots, len(job_overrides)
    )
    for idx, overrides in enumerate(job_overrides):
        log.info("\t#%d : %s", initial_job_idx + idx, " ".join(filter_overrides(overrides)))
    todo: queue.SimpleQueue = queue.SimpleQueue()
    for idx, overrides in enumerate(job_overrides):
        todo.put((idx, list(overrides)))
    runs: list[JobReturn | None] = [None] * len(job_overrides)
    state = Singleton.get_state()
    env = worker_env(n_slots)

    def slot() -> None:
        pool = None
        try:
            while True:
                try:
                    idx, overrides = todo.get_nowait()
                except queue.Empty:
                    return
                pool = pool or ProcessPoolExecutor(max_workers=1, env=env)
                args = (initial_job_idx + idx, overrides, launcher.hydra_context, launcher.config)
                future = pool.submit(execute_job, *args, launcher.task_function, state)
                try:
                    runs[idx] = future.result()
                except TerminatedWorkerError as err:
                    pool.shutdown(wait=False)
                    pool = None
                    runs[idx] = lost(launcher, overrides, err)
        finally:
            if pool is not None:
                pool.shutdown()

    threads = [threading.Thread(target=slot, name=f"joblib-slot-{k}") for k in range(n_slots)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(isinstance(r, JobReturn) for r in runs)
    return runs


def lost(launcher: JoblibLauncher, overrides: list[str], err: TerminatedWorkerError) -> JobReturn:
    """Record the job whose worker died as ``killed`` and return it as a failed job."""
    found = re.search(r"SIG[A-Z]+", str(err))
    signal_name = found.group(0) if found else "a signal"
    cfg = launcher.hydra_context.config_loader.load_sweep_config(launcher.config, overrides)
    folder = run_folder(cfg)
    RunFolder(folder).mark_killed(
        f"{signal_name}: the worker process running this job was killed",
        RunSummary.for_job(cfg),
    )
    message = f"the job writing {folder} lost its worker to {signal_name}; its summary.json says killed"
    log.error(message)
    return JobReturn(overrides=overrides, status=JobStatus.FAILED, _return_value=LostWorker(message))
