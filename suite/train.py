"""The Hydra app: fine-tune a model with a method, measure it, record it.

``suite-train method=signsgd train.max_steps=100`` runs one job; ``suite-train -m
method=adamw,signsgd`` sweeps; ``torchrun --nproc_per_node=K $(which suite-train) ...`` runs a job
on K ranks (suite/distributed.py). ``run`` reads top to bottom: setup -> train -> summarize -> finish.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import signal
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import get_scheduler, set_seed

from suite import distributed, downstream, preflight
from suite.checks import check_job, check_method_loop
from suite.data import CausalCollator
from suite.data.steps import StepBatches
from suite.evaluate import exact_match_accuracy
from suite.measure import device as devmem
from suite.measure.memory import MemoryMeter
from suite.measure.timer import TrainClock
from suite.measure.updates import LostUpdateGuard
from suite.methods import Method
from suite.resume import Progress, capture, carried_peaks, restore, stop_on_signals
from suite.track import checkpoint, wandb_run
from suite.track.record import MetricsRow, RunSummary
from suite.track.store import CHECKPOINT, RunFolder, run_folder
from suite.validate import ConfigError, validate

log = logging.getLogger(__name__)

COLLAPSE_MARGIN = 0.2  # a loss ending 20% above where it started marks the run "collapsed"
RUN_MODES = ("resume", "overwrite")  # keys a resumed run may change
AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}

LIBRARIES = (
    "torch",
    "transformers",
    "peft",
    "galore-torch",
    "apollo-torch",
    "badam",
    "lomo-optim",
    "torchao",
    "hydra-core",
    "wandb",
)


# ---------------------------------------------------------------- setup


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
    method = instantiate(without(cfg.method, "name"), model=model, _convert_="all")
    if not isinstance(method, Method):
        raise ConfigError(
            f"method._target_ {cfg.method._target_} returned "
            f"{type(method).__name__}; it must return suite.methods.Method"
        )
    check_method_loop(cfg, method.updates_in_backward, method.grad_scaler is not None)
    return method


def git_commit() -> str | None:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def versions() -> dict[str, str | None]:
    found = {}
    for lib in LIBRARIES:
        try:
            found[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            found[lib] = None
    return found


# ---------------------------------------------------------------- one step


def train_step(
    method: Method,
    micro_batches: list[dict],
    meter: MemoryMeter,
    autocast: contextlib.AbstractContextManager,
    scaler: torch.amp.GradScaler | None,
    max_grad_norm: float | None,
    forward: torch.nn.Module | None = None,
    before_update: Callable[[], None] | None = None,
) -> float:
    """Forward and backward over the micro-batches, then one update; returns the mean loss.
    ``forward``: the module that runs the batches (DDP's wrapper; default ``method.model``);
    ``before_update``: what replaces the gradients before the update (the ranks' sign vote)."""
    total = 0.0
    forward = method.model if forward is None else forward
    for i, batch in enumerate(micro_batches):
        with distributed.sync_on_last(forward, i == len(micro_batches) - 1):
            with meter.measure_activations(), autocast:
                loss = forward(**batch).loss / len(micro_batches)
            method.backward(scaler.scale(loss) if scaler is not None else loss)
        total += loss.detach()
    loss = float(total)
    if method.on_step_loss is not None:
        method.on_step_loss(loss)
    if before_update is not None:
        before_update()
    if not method.updates_in_backward:
        update(method, scaler, max_grad_norm)
    return loss


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


# ---------------------------------------------------------------- the run


@dataclass
class Job:
    """What setup builds and the loop uses."""

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
    tracker: wandb_run.WandbRun | wandb_run.NoRun
    world: distributed.World
    ranks: distributed.Ranks
    peaks: dict[str, int | None] = dataclasses.field(default_factory=dict)


def run(cfg: DictConfig) -> dict[str, Any]:
    """Fine-tune, evaluate and record one job: setup -> train -> summarize -> finish."""
    validate(cfg)
    check_job(cfg)
    world = distributed.world_from_env()
    distributed.check(cfg, world)
    device = pick_device(cfg.device)
    if device.type == "cpu" and cfg.train.autocast == "fp16":
        raise ConfigError(
            "train.autocast=fp16 needs CUDA (it uses a GradScaler) and no GPU is visible; "
            "use train.autocast=bf16 or null"
        )
    device = distributed.start(world, device)
    set_seed(cfg.seed)
    folder = RunFolder(run_folder(cfg)) if world.main else distributed.QuietFolder(run_folder(cfg))
    folder.claim(overwrite=cfg.overwrite, resume=cfg.resume)
    resumed = resume_state(cfg, folder)
    if resumed is not None:
        folder.keep_metrics_through(resumed["step"])
    summary = new_summary(cfg, device)
    tracker = None
    try:
        with stop_on_signals() as stop:
            job = setup(cfg, device, folder, summary, world)
            tracker = job.tracker
            loss, step = train(job, summary, resumed, stop)
            summarize(job, summary, loss, step)
    except BaseException as err:
        summary.status = "oom" if isinstance(err, torch.OutOfMemoryError) else "failed"
        summary.error = one_line(err)
        raise
    finally:
        finish(folder, summary, tracker)
    if world.main:
        print_summary(summary, folder.folder)
    return summary.to_json()


def one_line(err: BaseException) -> str:
    """The exception as one line; Hydra's instantiation wrapper gives way to its cause."""
    if isinstance(err, InstantiationException) and err.__cause__ is not None:
        err = err.__cause__
    return f"{type(err).__name__}: {err}".splitlines()[0]


def resume_state(cfg: DictConfig, folder: RunFolder) -> dict[str, Any] | None:
    """The checkpoint a ``resume=true`` run continues from (None: it starts), after checking that
    it was written by the same config."""
    path = folder.folder / CHECKPOINT
    if not (cfg.resume and path.exists()):
        return None
    before = flatten(OmegaConf.to_container(OmegaConf.load(folder.folder / "config.yaml"), resolve=True))
    now = flatten(OmegaConf.to_container(cfg, resolve=True))
    changed = [
        k for k in sorted(before.keys() | now.keys()) if k not in RUN_MODES and before.get(k) != now.get(k)
    ]
    if changed:
        folder.release()
        raise ConfigError(
            f"resume=true but {changed[0]}={now.get(changed[0])!r} differs from the run in {folder.folder} "
            f"({before.get(changed[0])!r} there); resume with the same config or pass overwrite=true"
        )
    return checkpoint.load(path)


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    """A nested config as ``{"train.lr": value}``."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out |= flatten(v, f"{prefix}{k}.")
        else:
            out[f"{prefix}{k}"] = v
    return out


def new_summary(cfg: DictConfig, device: torch.device) -> RunSummary:
    """The record of a run that has not trained yet (status ``failed`` until training starts)."""
    return RunSummary(
        method=cfg.method.name,
        model=cfg.model.name,
        data=cfg.data.name,
        seed=cfg.seed,
        experiment=cfg.experiment_name,
        run_name=cfg.run_name,
        device=devmem.describe(device),
        torch_version=torch.__version__,
        git_commit=git_commit(),
        versions=versions(),
    )


def setup(
    cfg: DictConfig, device: torch.device, folder: RunFolder, summary: RunSummary, world: distributed.World
) -> Job:
    """Model, data, method, schedule, loader, precision and tracker, in the order the protocol needs."""
    folder.write_config(cfg)
    summary.status = "running"
    folder.write_summary(summary)
    model, tokenizer = instantiate(without(cfg.model, "name", "architecture"))
    model.to(device)
    summary.load_peak_reserved_bytes = devmem.cuda_peaks(device)["peak_reserved_bytes"]
    splits = instantiate(without(cfg.data, "name", "max_length"))
    if cfg.train.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.config.use_cache = False
    # The meter comes before the method: its gradient hook must run before any hook the method
    # registers (fused methods free each gradient in theirs) and while every parameter requires grad.
    meter = MemoryMeter(model)
    method = build_method(cfg, model)
    meter.track(method.optimizer, method.extra_state)
    ranks = distributed.prepare(method, cfg.method.name, world, device)
    train_set = distributed.shard(splits.train, world) if cfg.distributed.shard_data else splits.train
    max_steps = total_steps(cfg, len(train_set))
    precision = cfg.train.autocast
    autocast = (
        torch.autocast(device.type, dtype=AUTOCAST[precision]) if precision else contextlib.nullcontext()
    )
    scaler = method.grad_scaler or (torch.amp.GradScaler(device.type) if precision == "fp16" else None)
    tracker = (
        wandb_run.start(cfg, str(folder.folder), cfg.run_name, cfg.experiment_name)
        if world.main
        else wandb_run.NoRun()
    )
    return Job(
        cfg,
        device,
        folder,
        method,
        tokenizer,
        splits,
        meter,
        make_loader(cfg, train_set, tokenizer),
        make_scheduler(cfg, method, max_steps),
        autocast,
        scaler,
        max_steps,
        tracker,
        world,
        ranks,
    )


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
    if cfg.train.warmup_steps >= max_steps:
        log.warning(
            "train.warmup_steps=%d >= %d steps: the run ends in warm-up", cfg.train.warmup_steps, max_steps
        )
    floor = cfg.train.get("min_lr_ratio")
    return get_scheduler(
        cfg.train.lr_scheduler,
        method.optimizer,
        num_warmup_steps=cfg.train.warmup_steps,
        num_training_steps=max_steps,
        scheduler_specific_kwargs={"min_lr_rate": floor} if "min_lr" in cfg.train.lr_scheduler else None,
    )


def total_steps(cfg: DictConfig, n_train: int) -> int:
    """``train.max_steps``, or ``train.epochs`` worth of optimizer steps when that is set."""
    if not cfg.train.epochs:
        return cfg.train.max_steps
    steps_per_epoch = n_train // (cfg.train.batch_size * cfg.train.grad_accum)
    return math.ceil(cfg.train.epochs * steps_per_epoch)


def train(job: Job, summary: RunSummary, resumed: dict | None, stop: list[str]) -> tuple[float, int]:
    """The training loop; returns the last loss and step, and fills the summary's time fields."""
    cfg, method = job.cfg, job.method
    method.model.train()
    progress = Progress(
        0,
        StepBatches(job.loader, cfg.train.grad_accum),
        TrainClock(job.device, cfg.train.target_loss),
        LostUpdateGuard(method),
    )
    if resumed is not None:
        restore(job, progress, resumed)
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
        if stop:
            summary.status, summary.error = "interrupted", f"{stop[0]} at step {step}"
            log.warning("%s at step %d: stopping", stop[0], step)
        if cfg.train.checkpoint_every and (step % cfg.train.checkpoint_every == 0 or stop):
            save_state(job, progress, summary)
        if stop:
            break
        if step >= job.max_steps:
            break
        if cfg.train.eval_every and step % cfg.train.eval_every == 0:
            evaluate_and_log(job, step)
    bar.close()
    why = collapsed(progress.losses, method.model.get_input_embeddings().num_embeddings)
    if summary.status == "ok" and why:
        summary.status, summary.error = "collapsed", why
    clock, guard = progress.clock, progress.guard
    summary.wall_clock_s, summary.step_time_median_s = clock.elapsed, clock.median_step
    summary.time_to_target_s, summary.target_loss = clock.time_to_target, cfg.train.target_loss
    summary.update_applied_fraction_min, summary.update_applied_fraction_mean = guard.min, guard.mean
    job.peaks = carried_peaks(job, progress)
    return loss, progress.step


def one_step(job: Job, progress: Progress, step: int, micro_batches: list[dict]) -> float:
    """One optimizer step, timed alone, then what is read after it (state, guard, schedule, log)."""
    cfg = job.cfg
    micro_batches = [{k: v.to(job.device) for k, v in b.items()} for b in micro_batches]
    logged = step == 1 or step % cfg.train.log_every == 0 or step == job.max_steps
    progress.guard.before(logged)
    # The clock brackets the step alone: data transfer, logging and evaluation stay outside.
    progress.clock.start()
    ranks = job.ranks
    loss = train_step(
        job.method,
        micro_batches,
        job.meter,
        job.autocast,
        job.scaler,
        cfg.train.max_grad_norm,
        ranks.forward,
        ranks.before_update,
    )
    seconds = progress.clock.stop(loss)
    # The ranks' mean loss (every rank then stops, diverges or collapses at the same step).
    loss = distributed.mean(loss, job.world)
    ranks.traffic.end_step()
    # Optimizer state and the guard's sample are read after the clock stops: no step time.
    job.meter.after_step()
    applied = progress.guard.after(step)
    lr = job.method.optimizer.param_groups[0]["lr"]  # the step's own, before the schedule moves it
    if job.scheduler is not None:
        job.scheduler.step()
    progress.step = step
    progress.losses.append(loss)
    if logged:
        log_step(job, progress.clock, step, loss, lr, seconds, applied)
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


def save_state(job: Job, progress: Progress, summary: RunSummary) -> None:
    """A resumable checkpoint, and a running summary that says how far it got."""
    checkpoint.save(job.folder.folder / CHECKPOINT, capture(job, progress))
    job.folder.close_metrics()  # fsync the rows the checkpoint covers
    summary.steps = progress.step
    job.folder.write_summary(dataclasses.replace(summary, status="running"))


def log_step(
    job: Job, clock: TrainClock, step: int, loss: float, lr: float, seconds: float, applied: float | None
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


def summarize(job: Job, summary: RunSummary, loss: float, step: int) -> None:
    """Memory and counts first, then the evaluations, then the checkpoint."""
    model = job.method.model
    summary.final_train_loss, summary.steps = loss, step
    if job.method.step_stats is not None:  # the method's own scalars after the last step
        summary.extra.update(job.method.step_stats())
    # Memory is read before evaluation, so generation never counts towards the training peaks.
    for key, value in job.meter.breakdown().as_dict().items():
        setattr(summary, key, value)
    # Peaks over every piece of a resumed run (train() read them before returning).
    summary.peak_reserved_bytes = job.peaks["peak_reserved_bytes"]
    summary.peak_allocated_bytes = job.peaks["peak_allocated_bytes"]
    summary.peak_rss_bytes = job.peaks["peak_rss_bytes"]
    if job.world.size > 1:
        record_ranks(job, summary)
    summary.n_trainable_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    summary.n_params = sum(p.numel() for p in model.parameters())
    job.meter.close()
    if summary.status == "ok" and job.world.main:
        summary.eval_exact_match = evaluate_and_log(job, step)
        if job.cfg.lm_eval.tasks:
            scores = downstream.evaluate_and_log(
                job.cfg.lm_eval, model, job.tokenizer, job.splits.test, step, job.folder, job.tracker
            )
            summary.extra.update(scores)
    if job.cfg.save_checkpoint and job.world.main:
        save_checkpoint(model, job.tokenizer, job.folder.folder / "checkpoint")


def record_ranks(job: Job, summary: RunSummary) -> None:
    """Every rank's peaks (the summary's peak is the largest, per rank in ``*_per_rank``), whether
    the ranks' weights agree, and the bytes sent per step."""
    per_rank = distributed.gather_peaks(job.peaks, job.world)
    for key, values in per_rank.items():
        known = [v for v in values if v is not None]
        setattr(summary, key, max(known) if known else None)
        summary.extra[f"{key}_per_rank"] = values
    summary.extra["world_size"] = job.world.size
    summary.extra["ranks_weights_agree"] = distributed.weights_agree(job.method.model, job.world)
    if not summary.extra["ranks_weights_agree"]:
        log.warning("the ranks ended with different weights; rank 0's are the run's")
    summary.extra["distributed"] = job.ranks.kind
    summary.extra.update(job.ranks.traffic.summary())


def finish(
    folder: RunFolder, summary: RunSummary, tracker: wandb_run.WandbRun | wandb_run.NoRun | None
) -> None:
    """Write the summary (whatever happened), close the W&B run, hand the folder back."""
    folder.close_metrics()
    folder.write_summary(summary)
    folder.release()
    if tracker is not None:
        tracker.finish(summary.to_json(), exit_code=0 if summary.status not in ("failed", "oom") else 1)


def evaluate_and_log(job: Job, step: int) -> float | None:
    """Greedy exact match on the first ``eval.n_examples`` test problems, logged at ``step``."""
    cfg = job.cfg.eval
    if cfg.n_examples == 0 or not job.world.main:  # the ranks' models are equal: rank 0 evaluates
        return None
    acc = exact_match_accuracy(
        job.method.model,
        job.tokenizer,
        job.splits.test[: cfg.n_examples],
        batch_size=cfg.batch_size,
        max_new_tokens=cfg.max_new_tokens,
    )
    row = {"train/step": step, "eval/exact_match": acc}
    job.folder.log(row)
    job.tracker.log(row)
    return acc


def save_checkpoint(model: torch.nn.Module, tokenizer, folder: Path) -> None:
    """An HF-format checkpoint that ``from_pretrained`` and ``lm_eval --model hf`` load as is
    (adapters are merged first)."""
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def print_summary(s: RunSummary, folder: Path) -> None:
    mib = 2**20
    em = "n/a" if s.eval_exact_match is None else f"{s.eval_exact_match:.3f}"
    lines = [
        f"{s.method} on {s.model}/{s.data} ({s.device}): status {s.status}",
        f"  final train loss {s.final_train_loss:.4f}   exact match {em}",
        f"  memory MiB: params {s.mem_params_bytes / mib:.2f}  grads {s.mem_grads_bytes / mib:.2f}"
        f"  state {s.mem_state_bytes / mib:.2f}  activations {s.mem_activations_bytes / mib:.2f}"
        f"  total {s.mem_total_bytes / mib:.2f}   (peak RSS {s.peak_rss_bytes / mib:.0f})",
        f"  wall-clock {s.wall_clock_s:.1f}s over {s.steps} steps,"
        f" median step {1e3 * s.step_time_median_s:.1f} ms",
        f"  results: {folder}",
    ]
    print("\n".join(lines), flush=True)


def remove_empty_folders(folder: Path, root: Path) -> None:
    """Remove the empty folders Hydra made for a job that was refused, up to ``root``."""
    while folder != root and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


@hydra.main(config_path=str(preflight.CONF_DIR), config_name="config", version_base="1.3")
def _hydra_main(cfg: DictConfig) -> float | None:
    try:
        summary = run(cfg)
    except ConfigError as err:
        remove_empty_folders(run_folder(cfg), Path(cfg.results_dir))
        print(f"suite-train: error: {err}", file=sys.stderr)
        sys.exit(2)
    except Exception:
        # The job's summary already says why. In a sweep Hydra runs every other job before it
        # reports the first failure and exits with status 1, under every launcher.
        log.error("job %s failed; its summary.json records why", run_folder(cfg))
        raise
    if summary["status"] == "interrupted":  # the shell's convention: 128 + the signal's number
        sys.exit(128 + signal.Signals[summary["error"].split()[0]].value)
    return summary.get("final_train_loss")


def main() -> None:
    """Console entry point: check every job of the command line, then hand it to Hydra. Under
    torchrun rank 0 checks alone (the others would find the run folders it has just claimed)."""
    try:
        if distributed.world_from_env().main:
            preflight.check(sys.argv[1:])
    except ConfigError as err:
        print(f"suite-train: error: {err}", file=sys.stderr)
        sys.exit(2)
    _hydra_main()
