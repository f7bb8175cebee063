"""Resume: what a checkpoint captures of a job and its :class:`~suite.loop.Progress` (model,
optimizer, schedule, scaler, data position, RNGs, clock, guard, meters, peaks) and how it is put
back; plus the signals that end a run cleanly (SIGTERM from ``timeout`` and SLURM, SIGINT from
Ctrl-C)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

from suite.loop import Job, Progress, carried_peaks
from suite.track import checkpoint


def capture(job: Job, progress: Progress) -> dict[str, Any]:
    """The training state after ``progress.step`` steps, for :func:`suite.track.checkpoint.save`."""
    method, meter = job.method, job.meter
    return {
        "step": progress.step,
        "model": method.model.state_dict(),
        "optimizer": method.training_state(),
        # the schedule's current values: a method's own state_dict may not carry param_groups
        "lrs": [group["lr"] for group in method.optimizer.param_groups],
        "scheduler": job.scheduler.state_dict() if job.scheduler is not None else None,
        "scaler": job.scaler.state_dict() if job.scaler is not None else None,
        "data": progress.batches.state_dict(),
        "rng": checkpoint.rng_states(),
        "clock": progress.clock.state_dict(),
        "guard": list(progress.guard.fractions),
        "losses": list(progress.losses),
        "meter": meter.state_dict(),
        "peaks": carried_peaks(job, progress),
    }


def restore(job: Job, progress: Progress, state: dict[str, Any]) -> None:
    """Put the model, optimizer, schedule, data position, RNGs, clock and meters where ``state`` was."""
    method = job.method
    method.model.load_state_dict(state["model"])
    groups = list(method.optimizer.param_groups)
    method.load_training_state(state["optimizer"])
    # torch's load_state_dict swaps in new group dicts; keep the old ones, which in-backward
    # hooks hold, with the loaded values and the schedule's current lr
    loaded = method.optimizer.param_groups
    for group, new, lr in zip(groups, loaded, state["lrs"], strict=True):
        group.update({k: v for k, v in new.items() if k != "params"}, lr=lr)
    method.optimizer.param_groups = groups
    if job.scheduler is not None:
        job.scheduler.load_state_dict(state["scheduler"])
    if job.scaler is not None:
        job.scaler.load_state_dict(state["scaler"])
    progress.step, progress.losses = state["step"], list(state["losses"])
    progress.batches.load_state_dict(state["data"])
    progress.clock.load_state_dict(state["clock"])
    progress.guard.fractions = list(state["guard"])
    progress.peaks = state["peaks"]
    job.meter.load_state_dict(state["meter"])
    checkpoint.set_rng_states(state["rng"])


@contextlib.contextmanager
def stop_on_signals() -> Iterator[list[str]]:
    """Within the block, SIGTERM and SIGINT are noted (the list gets the signal's name) instead of
    killing the process, so the loop can stop after the current step; a second SIGINT interrupts
    at once. Outside the main thread signals cannot be caught, and the block does nothing."""
    caught: list[str] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return

    def note(signum, frame):
        if caught and signum == signal.SIGINT:
            raise KeyboardInterrupt
        caught.append(signal.Signals(signum).name)

    previous = {s: signal.signal(s, note) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield caught
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
