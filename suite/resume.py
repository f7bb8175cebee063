"""Resume: what a checkpoint captures of a job and its :class:`~suite.loop.Progress` (model,
optimizer, schedule, scaler, data position, RNGs, clock, guard, meters, peaks) and how it is put
back; plus the signals that end a run cleanly (SIGTERM from ``timeout`` and SLURM, SIGINT from
Ctrl-C).

Under torchrun rank 0's ``resume.pt`` holds the state every rank shares (the weights, which the
ranks keep equal, and the schedule) with the world size; each rank r > 0 writes what is its own
(RNGs, data position, clock, meters; its optimizer state when the ranks vote, since each keeps its
own momentum and noise) to ``resume-rank<r>-step<N>.pt``. Under FSDP no rank holds the whole
model: each writes its shards of the model and optimizer with PyTorch's distributed checkpoint
(:mod:`suite.track.shards`, ``resume-shards-step<N>/``) and ``resume.pt`` holds the rest. A
checkpoint is committed when rank 0's file is replaced, after every other rank's part is written;
older parts go only after that, so a kill at any moment leaves a complete set for the step
``resume.pt`` names."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch.distributed as dist

from suite.distributed import World
from suite.errors import ConfigError
from suite.loop import Job, Progress, carried_peaks
from suite.track import checkpoint, shards
from suite.track.store import CHECKPOINT

OWN = ("step", "rng", "data", "clock", "guard", "meter", "peaks")  # each rank's, not rank 0's


def capture(job: Job, progress: Progress) -> dict[str, Any]:
    """The training state after ``progress.step`` steps, for :func:`suite.track.checkpoint.save`
    (under FSDP without the model and optimizer: each rank's shards, :func:`save_shards`)."""
    method, meter = job.method, job.meter
    whole = (
        {}
        if job.ranks.kind == "fsdp"
        else {"model": method.model.state_dict(), "optimizer": method.training_state()}
    )
    return whole | {
        "step": progress.step,
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
    groups = list(method.optimizer.param_groups)
    if job.ranks.kind == "fsdp":
        shards.load(job.folder.folder, state["step"], method.model, method.optimizer)
    else:
        method.model.load_state_dict(state["model"])
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


def rank_file(folder: Path, rank: int, step: int) -> Path:
    """Rank ``rank``'s part of the checkpoint at ``step`` (one of ``RANK_CHECKPOINTS``)."""
    return folder / f"resume-rank{rank}-step{step}.pt"


def save_shards(job: Job, step: int) -> None:
    """Under FSDP, every rank's shards of the model and optimizer after ``step``, before
    :func:`save_ranks` commits them (a collective)."""
    shards.save(job.folder.folder, step, job.method.model, job.method.optimizer, job.world.main)


def save_ranks(folder: Path, state: dict[str, Any], world: World, own_optimizer: bool) -> None:
    """Every rank's checkpoint of ``state`` (its own :func:`capture`), committed by rank 0's
    ``resume.pt`` (a collective: every rank calls it at the same step); FSDP shards of an
    earlier step (:func:`save_shards`) go after the commit."""
    mine = rank_file(folder, world.rank, state["step"])
    if not world.main:
        checkpoint.save(mine, {k: state[k] for k in (*OWN, *(["optimizer"] * own_optimizer))})
    dist.barrier()
    if world.main:
        checkpoint.save(folder / CHECKPOINT, state | {"world_size": world.size})
    dist.barrier()
    if world.main:  # the step is committed: older parts go
        shards.remove_older(folder, state["step"])
    for old in folder.glob(f"resume-rank{world.rank}-step*.pt"):
        if old != mine:
            old.unlink()


def load_rank(folder: Path, world: World, step: int) -> dict[str, Any]:
    """What rank ``world.rank`` continues from: rank 0's ``resume.pt`` at ``step``, with this
    rank's own part over it."""
    own_path = rank_file(folder, world.rank, step)
    if not own_path.exists():
        raise ConfigError(f"{own_path} is missing: rank {world.rank}'s part of the checkpoint at step {step}")
    return checkpoint.load(folder / CHECKPOINT) | checkpoint.load(own_path)


def check_world_size(state: dict[str, Any], path: Path, world: World) -> None:
    """Refuse a checkpoint written by another number of ranks (one process: 1)."""
    written = state.get("world_size", 1)
    if written != world.size:
        raise ConfigError(
            f"resume=true but {path} was written by {written} rank(s) and this run has {world.size}; "
            f"resume it with torchrun --nproc_per_node={written} (1: without torchrun) or pass overwrite=true"
        )


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
