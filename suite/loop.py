"""The training loop, apart from the app: what a job is made of (:class:`Job`), how a method is
built from its config, one step (forward and backward over the micro-batches, then the update)
and the loop over steps with its timing, logging and evaluation.

The Hydra app (:mod:`suite.train`) builds a :class:`Job` and records the run; the estimator,
resume and the benchmarks use these pieces without it. Nothing here imports the app, Hydra's
launcher machinery or W&B (the tracker is anything with ``log(row)``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import math
import statistics
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import get_scheduler

from suite import distributed, traits
from suite.checks import check_method_loop
from suite.chunked_loss import causal_lm_loss
from suite.data import CausalCollator
from suite.data.steps import StepBatches
from suite.errors import ConfigError
from suite.evaluate import exact_match_accuracy
from suite.heldout import heldout_loss
from suite.measure import device as devmem
from suite.measure.audit import StepRecorder
from suite.measure.memory import MemoryMeter
from suite.measure.timer import TrainClock
from suite.measure.updates import LostUpdateGuard
from suite.methods import Method
from suite.track.record import MetricsRow, RunSummary
from suite.track.store import RunFolder

log = logging.getLogger(__name__)

COLLAPSE_MARGIN = 0.2  # a loss ending 20% above where it started marks the run "collapsed"
AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


class Tracker(Protocol):
    """Where metrics rows go besides the results store (a W&B run, or nothing)."""

    def log(self, row: dict[str, Any]) -> None: ...


# ---------------------------------------------------------------- building


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda but no CUDA device is visible; use device=cpu or auto")
    return torch.device(name)


def without(node: DictConfig, *keys: str) -> dict[str, Any]:
    """A config group as plain kwargs for ``instantiate``, minus the suite's own keys."""
    d = OmegaConf.to_container(node, resolve=True)
    for k in keys:
        d.pop(k, None)
    return d


def build_method(cfg: DictConfig, model: torch.nn.Module) -> Method:
    method = instantiate(without(cfg.method, *traits.NOT_PASSED), model=model, _convert_="all")
    if not isinstance(method, Method):
        raise ConfigError(
            f"method._target_ {cfg.method._target_} returned "
            f"{type(method).__name__}; it must return suite.methods.Method"
        )
    check_method_loop(
        cfg, method.updates_in_backward, method.grad_scaler is not None, method.micro_batch is not None
    )
    return method


def make_loader(cfg: DictConfig, train_set: Any, tokenizer: Any) -> DataLoader:
    """Shuffled batches of ``train_set`` in the order the run's seed gives."""
    return DataLoader(
        train_set,
        batch_size=cfg.train.batch_size,
        shuffle=True,
        drop_last=True,
        collate_fn=CausalCollator(tokenizer, cfg.data.max_length),
        generator=torch.Generator().manual_seed(cfg.seed),
    )


def make_scheduler(cfg: DictConfig, method: Method, max_steps: int) -> Any:
    """The learning-rate schedule (None for a method that keeps its own)."""
    if not method.uses_lr_schedule:
        return None
    warmup = warmup_steps(cfg.train, max_steps)
    if warmup >= max_steps:
        log.warning("%d warm-up steps >= %d steps: the run ends in warm-up", warmup, max_steps)
    floor = cfg.train.get("min_lr_ratio")
    return get_scheduler(
        cfg.train.lr_scheduler,
        method.optimizer,
        num_warmup_steps=warmup,
        num_training_steps=max_steps,
        scheduler_specific_kwargs={"min_lr_rate": floor} if "min_lr" in cfg.train.lr_scheduler else None,
    )


def warmup_steps(train: DictConfig, max_steps: int) -> int:
    """``train.warmup_steps``, or ``ceil(train.warmup_ratio * max_steps)`` when a ratio is set
    (transformers' ``TrainingArguments.get_warmup_steps``, as LLaMA-Factory's recipes use it)."""
    ratio = train.get("warmup_ratio")
    return train.warmup_steps if ratio is None else math.ceil(ratio * max_steps)


def total_steps(cfg: DictConfig, n_train: int) -> int:
    """``train.max_steps``, or ``train.epochs`` worth of optimizer steps when that is set."""
    if not cfg.train.epochs:
        return cfg.train.max_steps
    steps_per_epoch = n_train // (cfg.train.batch_size * cfg.train.grad_accum)
    return math.ceil(cfg.train.epochs * steps_per_epoch)


# ---------------------------------------------------------------- one step


def train_step(
    method: Method,
    micro_batches: list[dict],
    meter: MemoryMeter | None,
    autocast: contextlib.AbstractContextManager,
    scaler: torch.amp.GradScaler | None,
    max_grad_norm: float | None,
    forward: torch.nn.Module | None = None,
    before_update: Callable[[], None] | None = None,
    phase: Callable[[str], contextlib.AbstractContextManager] | None = None,
    loss_chunks: int | None = None,
) -> float:
    """Forward and backward over the micro-batches, then one update; returns the mean loss.
    ``meter``: None runs unmetered (the meter benchmark's baseline); ``forward``: the module that
    runs the batches (DDP's wrapper; default ``method.model``);
    ``before_update``: what replaces the gradients before the update (the ranks' sign vote);
    ``phase``: a context for each phase by name, forward, backward and step (the memory audit's
    markers, ``suite.measure.audit``); ``loss_chunks``: K > 1 computes the loss over K chunks of
    the sequence (``suite.chunked_loss``)."""
    total = 0.0
    forward = method.model if forward is None else forward
    phase = phase or no_phase
    for i, batch in enumerate(micro_batches):
        if method.micro_batch is not None:
            method.micro_batch(i, len(micro_batches))
        with distributed.sync_on_last(forward, i == len(micro_batches) - 1):
            with (
                phase("forward"),
                meter.measure_activations() if meter else contextlib.nullcontext(),
                autocast,
            ):
                loss = causal_lm_loss(forward, method.model, batch, loss_chunks) / len(micro_batches)
            with phase("backward"):
                method.backward(scaler.scale(loss) if scaler is not None else loss)
        total += loss.detach()
    loss = float(total)
    with phase("step"):
        if method.on_step_loss is not None:
            method.on_step_loss(loss)
        if before_update is not None:
            before_update()
        if not method.updates_in_backward:
            update(method, scaler, max_grad_norm)
    return loss


def no_phase(name: str) -> contextlib.AbstractContextManager:
    return contextlib.nullcontext()


def update(method: Method, scaler: torch.amp.GradScaler | None, max_grad_norm: float | None) -> None:
    """Clip (on unscaled gradients), step, update the loss scale, free the gradients."""
    if max_grad_norm is not None:
        if scaler is not None:
            scaler.unscale_(method.optimizer)
        params = [p for group in method.optimizer.param_groups for p in group["params"]]
        torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
    if scaler is not None and method.grad_scaler is None:
        scaler.step(method.optimizer)
    else:
        method.optimizer.step()
    if scaler is not None:
        scaler.update()
    method.optimizer.zero_grad(set_to_none=True)


# ---------------------------------------------------------------- the loop


@dataclass(kw_only=True)
class Job:
    """What setup builds and the loop uses (built with keyword arguments)."""

    cfg: DictConfig
    device: torch.device
    folder: RunFolder
    method: Method
    tokenizer: Any
    splits: Any
    meter: MemoryMeter
    loader: DataLoader
    scheduler: Any
    autocast: contextlib.AbstractContextManager
    scaler: torch.amp.GradScaler | None
    max_steps: int
    tracker: Tracker
    world: distributed.World
    ranks: distributed.Ranks
    peaks: dict[str, int | None] = dataclasses.field(default_factory=dict)


@dataclass
class Progress:
    """What the loop has done so far; everything here is restored on resume."""

    step: int
    batches: StepBatches
    clock: TrainClock
    guard: LostUpdateGuard
    losses: list[float] = field(default_factory=list)  # every step's training loss
    peaks: dict[str, int | None] = field(default_factory=dict)  # of earlier pieces of the run


def new_progress(job: Job) -> Progress:
    """Step 0: the loader's batches from the start, a fresh clock and lost-update guard."""
    return Progress(
        0,
        StepBatches(job.loader, job.cfg.train.grad_accum),
        TrainClock(job.device, job.cfg.train.target_loss, job.cfg.train.get("val_target_loss")),
        LostUpdateGuard(job.method),
    )


def train(
    job: Job,
    progress: Progress,
    summary: RunSummary,
    stop: list[str],
    checkpoint: Callable[[Progress], None],
) -> tuple[float, int]:
    """The training loop from ``progress`` (step 0, or where a resumed run was) to
    ``job.max_steps``; ``stop`` fills when a signal asks the run to end, ``checkpoint`` saves a
    resumable state. Returns the last loss and step, and fills the summary's time fields."""
    cfg, method = job.cfg, job.method
    method.model.train()
    method.to_train()
    # Peaks start here, after the model and optimizer are built: the protocol's training peak.
    devmem.reset_peaks(job.device)
    summary.status, loss = "ok", float("nan")
    bar = tqdm(total=job.max_steps, initial=progress.step, desc=cfg.method.name, dynamic_ncols=True)
    for step, micro_batches in enumerate(progress.batches, start=progress.step + 1):
        if step > job.max_steps:  # a resumed run that had already finished
            break
        loss = one_step(job, progress, step, micro_batches)
        bar.update()
        bar.set_postfix(loss=f"{loss:.4f}", grads_MB=f"{job.meter.peak_grads / 2**20:.1f}")
        if not math.isfinite(loss):
            summary.status = "diverged"
            log.warning("loss is %s at step %d: stopping", loss, step)
            break
        validate_and_log(job, progress, step)
        distributed.agree_to_stop(stop, job.world)  # the ranks checkpoint and stop at one step
        if cfg.train.checkpoint_every and (step % cfg.train.checkpoint_every == 0 or stop):
            checkpoint(progress)
        if not stop and step < job.max_steps and cfg.train.eval_every and step % cfg.train.eval_every == 0:
            with method.evaluating():
                evaluate_and_log(job, step, stop)
        distributed.agree_to_stop(stop, job.world)
        if stop:  # caught during the step, the checkpoint's write or the evaluation
            summary.status, summary.error = "interrupted", f"{stop[0]} at step {step}"
            log.warning("%s at step %d: stopping", stop[0], step)
            break
        if step >= job.max_steps:
            break
    bar.close()
    why = collapsed(progress.losses, method.model.get_input_embeddings().num_embeddings)
    if summary.status == "ok" and why:
        summary.status, summary.error = "collapsed", why
    clock, guard = progress.clock, progress.guard
    summary.wall_clock_s, summary.step_time_median_s = clock.elapsed, clock.median_step
    summary.time_to_target_s, summary.target_loss = clock.time_to_target, cfg.train.target_loss
    summary.final_val_loss, summary.val_target_loss = clock.val_loss, clock.val_target_loss
    summary.time_to_val_target_s = clock.time_to_val_target
    if clock.val_target_loss is not None:  # "did not reach" is recorded as such
        summary.val_target_reached = clock.time_to_val_target is not None
    summary.update_applied_fraction_min, summary.update_applied_fraction_mean = guard.min, guard.mean
    job.peaks = carried_peaks(job, progress)
    return loss, progress.step


def one_step(job: Job, progress: Progress, step: int, micro_batches: list[dict]) -> float:
    """One optimizer step, timed alone, then what is read after it (state, guard, schedule, log)."""
    cfg = job.cfg
    micro_batches = [{k: v.to(job.device) for k, v in b.items()} for b in micro_batches]
    logged = step == 1 or step % cfg.train.log_every == 0 or step == job.max_steps
    progress.guard.before(logged)
    ranks = job.ranks
    run_step = functools.partial(
        train_step,
        job.method,
        micro_batches,
        job.meter,
        job.autocast,
        job.scaler,
        cfg.train.max_grad_norm,
        ranks.forward,
        ranks.before_update,
        loss_chunks=cfg.train.get("loss_chunks"),
    )
    if step == audited_step(cfg, job.max_steps):
        loss, seconds = audit_step(job, progress, step, micro_batches, run_step), None
    else:
        # The clock brackets the step alone: data transfer, logging and evaluation stay outside.
        progress.clock.start()
        loss = run_step()
        seconds = progress.clock.stop(loss)
    # The ranks' mean loss (every rank then stops, diverges or collapses at the same step).
    loss = distributed.mean(loss, job.world)
    ranks.traffic.end_step()
    # Optimizer state and the guard's sample are read after the clock stops: no step time.
    job.meter.after_step()
    applied = progress.guard.after(step)
    # the step's own, before the schedule moves it (a tensor for torchao's optimizers)
    lr = float(job.method.optimizer.param_groups[0]["lr"])
    if job.scheduler is not None:
        step_schedule(job.scheduler, job.method)
    progress.step = step
    progress.losses.append(loss)
    if logged:
        log_step(job, progress.clock, step, loss, lr, seconds, applied)
    return loss


def step_schedule(scheduler: Any, method: Method) -> None:
    """Move the schedule to the next step's lr. A method that updates inside backward never calls
    ``optimizer.step()``, so torch warns that the schedule was stepped before the optimizer; the
    warning is spurious: those updates read ``param_groups[0]["lr"]`` during this step's backward,
    before this call, and use the same lr at each step as a method that steps after backward."""
    with warnings.catch_warnings():
        if method.updates_in_backward:
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)`")
        scheduler.step()


def audited_step(cfg: DictConfig, max_steps: int) -> int | None:
    """The step measured against the allocator: ``memory.audit_step`` (the last step of a shorter
    run), None when off."""
    step = OmegaConf.select(cfg, "memory.audit_step", default=None)
    return None if step is None else min(step, max_steps)


def audit_step(
    job: Job, progress: Progress, step: int, micro_batches: list[dict], run_step: Callable[..., float]
) -> float:
    """One step off the clock, its allocations recorded (``suite.measure.audit``): the meter gets
    the audit, the run folder the timeline where ``memory.timeline`` asks for it."""
    if job.device.type == "cuda":  # the recorder resets the CUDA peaks: the run's so far are kept
        progress.peaks = carried_peaks(job, progress)
    recorder = StepRecorder(job.meter, job.device, step)
    with recorder.recording(micro_batches) as phase:
        loss = run_step(phase=phase)
    progress.clock.untimed(loss)
    timeline = recorder.timeline()
    job.meter.audit = recorder.audit(timeline)
    if OmegaConf.select(job.cfg, "memory.timeline", default=False) and job.world.main:
        from suite.measure.timeline import write_timeline  # matplotlib: only for a run that draws

        write_timeline(job.folder.folder, timeline, job.meter.audit, job.cfg.method.name)
    return loss


def collapsed(losses: list[float], vocab_size: int) -> str | None:
    """Why the run collapsed, or None: the median loss of its last steps is above that of its
    first steps by more than ``COLLAPSE_MARGIN``, or sits at ln |V| (the uniform prediction) though
    the first step's was below it (windows of a third of the run, at most 10 steps)."""
    window = min(10, len(losses) // 3)
    if window == 0:
        return None
    first, last = statistics.median(losses[:window]), statistics.median(losses[-window:])
    uniform = math.log(vocab_size)
    if last > first * (1 + COLLAPSE_MARGIN):
        return f"the loss rose from {first:.4g} to {last:.4g} (medians of the first and last {window} steps)"
    if abs(last - uniform) < 0.02 * uniform and losses[0] < 0.9 * uniform:
        return f"the loss ended at {last:.4g}, ln of the vocabulary size: the model predicts uniformly"
    return None


def log_step(
    job: Job,
    clock: TrainClock,
    step: int,
    loss: float,
    lr: float,
    seconds: float | None,
    applied: float | None,
) -> None:
    """One metrics row to the store and W&B."""
    peaks = devmem.cuda_peaks(job.device)
    row = MetricsRow(
        step=step,
        loss=loss,
        lr=lr,
        wall_clock_s=clock.elapsed,
        step_time_s=seconds,
        grads_bytes=job.meter.peak_grads,
        rss_bytes=devmem.peak_rss_bytes(),
        cuda_reserved_bytes=peaks["peak_reserved_bytes"],
        cuda_allocated_bytes=peaks["peak_allocated_bytes"],
        update_applied_fraction=applied,
    ).to_json()
    if job.world.size > 1:
        row |= {f"comm/{k}_bytes": v for k, v in job.ranks.traffic.steps[-1].items()}
    if job.method.step_stats is not None:
        row |= job.method.step_stats()
    job.folder.log(row)
    job.tracker.log(row)


def evaluate_and_log(job: Job, step: int, stop: list[str] | None = None) -> float | None:
    """Greedy exact match on the first ``eval.n_examples`` test problems, logged at ``step``; None
    (nothing logged) when a signal in ``stop`` ended it early. The caller puts the method in eval
    mode (:meth:`~suite.methods.Method.evaluating`)."""
    cfg = job.cfg.eval
    # the ranks' models are equal: rank 0 evaluates (under FSDP every rank, to gather the weights)
    if cfg.n_examples == 0 or not (job.world.main or job.ranks.kind == "fsdp"):
        return None
    acc = exact_match_accuracy(
        job.method.model,
        job.tokenizer,
        job.splits.test[: cfg.n_examples],
        batch_size=cfg.batch_size,
        max_new_tokens=cfg.max_new_tokens,
        stop=stop or (),
    )
    if stop:
        return None
    row = {"train/step": step, "eval/exact_match": acc}
    job.folder.log(row)
    job.tracker.log(row)
    return acc


def validate_and_log(job: Job, progress: Progress, step: int) -> float | None:
    """The validation loss after ``step``, every ``train.val_every`` steps and after the last, with
    the method in eval mode: logged, and checked against the validation target; its time is not
    training time."""
    every = job.cfg.train.get("val_every")
    if not every or (step % every and step != job.max_steps):
        return None
    with job.method.evaluating():
        loss = heldout_loss(
            job.method.model,
            job.tokenizer,
            job.splits.validation,
            job.cfg.data.max_length,
            job.cfg.eval.batch_size,
            job.autocast,
        )
    progress.clock.validated(loss)
    row = {"train/step": step, "val/loss": loss}
    job.folder.log(row)
    job.tracker.log(row)
    return loss


def carried_peaks(job: Job, progress: Progress) -> dict[str, int | None]:
    """Device and process peaks over this piece of the run and every earlier one."""
    now = devmem.cuda_peaks(job.device) | {"peak_rss_bytes": devmem.peak_rss_bytes()}
    before = progress.peaks
    return {k: v if before.get(k) is None else max(v or 0, before[k]) for k, v in now.items()}
