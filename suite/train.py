"""The Hydra app: fine-tune a model with a method, measure it, record it.

``suite-train method=signsgd train.max_steps=100`` runs one job; ``suite-train -m
method=adamw,signsgd`` sweeps. ``run`` reads top to bottom: setup -> train -> summarize -> finish.
"""

from __future__ import annotations

import contextlib
import logging
import math
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import get_scheduler, set_seed

from suite import downstream, preflight
from suite.data import CausalCollator
from suite.evaluate import exact_match_accuracy
from suite.measure import device as devmem
from suite.measure.memory import MemoryMeter
from suite.measure.timer import TrainClock
from suite.measure.updates import UpdateProbe, lost_update_warning
from suite.methods import Method
from suite.track import wandb_run
from suite.track.record import MetricsRow, RunSummary
from suite.track.store import RunFolder
from suite.validate import ConfigError, validate

log = logging.getLogger(__name__)

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


def run_folder(cfg: DictConfig) -> Path:
    return Path(cfg.results_dir) / cfg.experiment_name / cfg.run_name


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
    if method.updates_in_backward and cfg.train.grad_accum > 1:
        raise ConfigError(
            f"method {cfg.method.name} updates inside backward and cannot "
            f"accumulate gradients; set train.grad_accum=1"
        )
    if cfg.train.max_grad_norm is not None and (method.updates_in_backward or method.grad_scaler):
        why = "updates inside backward" if method.updates_in_backward else "unscales its own gradients"
        raise ConfigError(
            f"method {cfg.method.name} {why}, so the loop cannot clip before its step; "
            f"set train.max_grad_norm=null"
        )
    if method.updates_in_backward and cfg.train.autocast == "fp16":
        raise ConfigError(
            f"method {cfg.method.name} updates inside backward; "
            f"train.autocast=fp16 is not supported with it, use bf16 or null"
        )
    return method


def batches(loader: DataLoader, grad_accum: int) -> Iterator[list[dict]]:
    """Endless groups of ``grad_accum`` micro-batches, epoch after epoch."""
    group = []
    while True:
        for batch in loader:
            group.append(batch)
            if len(group) == grad_accum:
                yield group
                group = []


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
) -> float:
    """Forward and backward over the micro-batches, then one update; returns the mean loss."""
    total = 0.0
    for batch in micro_batches:
        with meter.measure_activations(), autocast:
            loss = method.model(**batch).loss / len(micro_batches)
        method.backward(scaler.scale(loss) if scaler is not None else loss)
        total += loss.detach()
    loss = float(total)
    if method.on_step_loss is not None:
        method.on_step_loss(loss)
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


def run(cfg: DictConfig) -> dict[str, Any]:
    """Fine-tune, evaluate and record one job: setup -> train -> summarize -> finish."""
    validate(cfg)
    device = pick_device(cfg.device)
    set_seed(cfg.seed)
    folder = RunFolder(run_folder(cfg))
    summary = new_summary(cfg, device)
    tracker = None
    try:
        job = setup(cfg, device, folder, summary)
        tracker = job.tracker
        loss, step = train(job, summary)
        summarize(job, summary, loss, step)
    except BaseException as err:
        summary.status = "failed"
        summary.error = f"{type(err).__name__}: {err}"
        raise
    finally:
        finish(folder, summary, tracker)
    print_summary(summary, folder.folder)
    return summary.to_json()


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


def setup(cfg: DictConfig, device: torch.device, folder: RunFolder, summary: RunSummary) -> Job:
    """Model, data, method, schedule, loader, precision and tracker, in the order the protocol needs."""
    folder.write_config(cfg)
    model, tokenizer = instantiate(without(cfg.model, "name"))
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
    max_steps = total_steps(cfg, len(splits.train))
    scheduler = None
    if method.uses_lr_schedule:
        if cfg.train.warmup_steps >= max_steps:
            log.warning(
                "train.warmup_steps=%d >= %d steps: the run ends in warm-up",
                cfg.train.warmup_steps,
                max_steps,
            )
        scheduler = get_scheduler(
            cfg.train.lr_scheduler,
            method.optimizer,
            num_warmup_steps=cfg.train.warmup_steps,
            num_training_steps=max_steps,
        )
    loader = DataLoader(
        splits.train,
        batch_size=cfg.train.batch_size,
        shuffle=True,
        drop_last=True,
        collate_fn=CausalCollator(tokenizer, cfg.data.max_length),
        generator=torch.Generator().manual_seed(cfg.seed),
    )
    precision = cfg.train.autocast
    autocast = (
        torch.autocast(device.type, dtype=AUTOCAST[precision]) if precision else contextlib.nullcontext()
    )
    scaler = method.grad_scaler or (torch.amp.GradScaler(device.type) if precision == "fp16" else None)
    tracker = wandb_run.start(cfg, str(folder.folder), cfg.run_name, cfg.experiment_name)
    return Job(
        cfg,
        device,
        folder,
        method,
        tokenizer,
        splits,
        meter,
        loader,
        scheduler,
        autocast,
        scaler,
        max_steps,
        tracker,
    )


def total_steps(cfg: DictConfig, n_train: int) -> int:
    """``train.max_steps``, or ``train.epochs`` worth of optimizer steps when that is set."""
    if not cfg.train.epochs:
        return cfg.train.max_steps
    steps_per_epoch = n_train // (cfg.train.batch_size * cfg.train.grad_accum)
    return math.ceil(cfg.train.epochs * steps_per_epoch)


def train(job: Job, summary: RunSummary) -> tuple[float, int]:
    """The training loop; returns the last loss and step, and fills the summary's time fields."""
    cfg, method = job.cfg, job.method
    method.model.train()
    # Peaks start here, after the model and optimizer are built: the protocol's training peak.
    devmem.reset_peaks(job.device)
    clock = TrainClock(job.device, cfg.train.target_loss)
    guard = LostUpdateGuard(method, cfg.seed)
    summary.status = "ok"
    loss, step = float("nan"), 0
    bar = tqdm(total=job.max_steps, desc=f"{cfg.method.name}", dynamic_ncols=True)
    for step, micro_batches in enumerate(batches(job.loader, cfg.train.grad_accum), start=1):
        micro_batches = [{k: v.to(job.device) for k, v in b.items()} for b in micro_batches]
        logged = step == 1 or step % cfg.train.log_every == 0 or step == job.max_steps
        guard.before(logged)
        # The clock brackets the step alone: data transfer, logging and evaluation stay outside.
        clock.start()
        loss = train_step(method, micro_batches, job.meter, job.autocast, job.scaler, cfg.train.max_grad_norm)
        seconds = clock.stop(loss)
        # Optimizer state and the guard's sample are read after the clock stops: no step time.
        job.meter.after_step()
        applied = guard.after(step)
        if job.scheduler is not None:
            job.scheduler.step()
        if not math.isfinite(loss):
            summary.status = "diverged"
            log.warning("loss is %s at step %d: stopping", loss, step)
            break
        bar.update()
        bar.set_postfix(
            loss=f"{loss:.4f}", step_ms=f"{1e3 * seconds:.0f}", grads_MB=f"{job.meter.peak_grads / 2**20:.1f}"
        )
        if logged:
            log_step(job, clock, step, loss, seconds, applied)
        if cfg.train.eval_every and step % cfg.train.eval_every == 0 and step < job.max_steps:
            evaluate_and_log(job, step)
        if step >= job.max_steps:
            break
    bar.close()
    summary.wall_clock_s, summary.step_time_median_s = clock.elapsed, clock.median_step
    summary.time_to_target_s, summary.target_loss = clock.time_to_target, cfg.train.target_loss
    summary.update_applied_fraction_min, summary.update_applied_fraction_mean = guard.min, guard.mean
    return loss, step


class LostUpdateGuard:
    """Measures ``update_applied_fraction`` on the logged steps and warns once when a step after
    the first moved under half of the trainable coordinates (at step 1 LoRA's zero-initialised B
    leaves A's gradient zero by design)."""

    def __init__(self, method: Method, seed: int):
        self.method = method
        self.probe = UpdateProbe(method.model, seed=seed)
        self.fractions: list[float] = []
        self.active = False
        self.warned = False

    def before(self, measure: bool) -> None:
        self.active = measure
        if measure:
            self.probe.before()

    def after(self, step: int) -> float | None:
        if not self.active:
            return None
        fraction = self.probe.after()
        if fraction is None:
            return None
        self.fractions.append(fraction)
        if fraction < 0.5 and step > 1 and not self.warned:
            self.warned = True
            lr = self.method.optimizer.param_groups[0].get("lr") or 0.0
            dtype = next(p.dtype for p in self.method.model.parameters() if p.requires_grad)
            log.warning(lost_update_warning(fraction, step, lr, dtype))
        return fraction

    @property
    def min(self) -> float | None:
        return min(self.fractions, default=None)

    @property
    def mean(self) -> float | None:
        return sum(self.fractions) / len(self.fractions) if self.fractions else None


def log_step(
    job: Job, clock: TrainClock, step: int, loss: float, seconds: float, applied: float | None
) -> None:
    """One metrics row to the store and W&B."""
    peaks = devmem.cuda_peaks(job.device)
    row = MetricsRow(
        step=step,
        loss=loss,
        lr=job.method.optimizer.param_groups[0]["lr"],
        wall_clock_s=clock.elapsed,
        step_time_s=seconds,
        grads_bytes=job.meter.peak_grads,
        rss_bytes=devmem.peak_rss_bytes(),
        cuda_reserved_bytes=peaks["peak_reserved_bytes"],
        cuda_allocated_bytes=peaks["peak_allocated_bytes"],
        update_applied_fraction=applied,
    ).to_json()
    job.folder.log(row)
    job.tracker.log(row)


def summarize(job: Job, summary: RunSummary, loss: float, step: int) -> None:
    """Memory and counts first, then the evaluations, then the checkpoint."""
    model = job.method.model
    summary.final_train_loss, summary.steps = loss, step
    # Memory is read before evaluation, so generation never counts towards the training peaks.
    for key, value in job.meter.breakdown().as_dict().items():
        setattr(summary, key, value)
    peaks = devmem.cuda_peaks(job.device)
    summary.peak_reserved_bytes, summary.peak_allocated_bytes = (
        peaks["peak_reserved_bytes"],
        peaks["peak_allocated_bytes"],
    )
    summary.peak_rss_bytes = devmem.peak_rss_bytes()
    summary.n_trainable_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    summary.n_params = sum(p.numel() for p in model.parameters())
    job.meter.close()
    if summary.status == "ok":
        summary.eval_exact_match = evaluate_and_log(job, step)
        if job.cfg.lm_eval.tasks:
            scores = downstream.evaluate_and_log(
                job.cfg.lm_eval, model, job.tokenizer, job.splits.test, step, job.folder, job.tracker
            )
            summary.extra.update(scores)
    if job.cfg.save_checkpoint:
        save_checkpoint(model, job.tokenizer, job.folder.folder / "checkpoint")


def finish(
    folder: RunFolder, summary: RunSummary, tracker: wandb_run.WandbRun | wandb_run.NoRun | None
) -> None:
    """Write the metrics and the summary (whatever happened), and close the W&B run."""
    folder.flush_metrics()
    folder.write_summary(summary)
    if tracker is not None:
        tracker.finish(summary.to_json(), exit_code=0 if summary.status != "failed" else 1)


def evaluate_and_log(job: Job, step: int) -> float | None:
    """Greedy exact match on the first ``eval.n_examples`` test problems, logged at ``step``."""
    cfg = job.cfg.eval
    if cfg.n_examples == 0:
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


@hydra.main(config_path=str(preflight.CONF_DIR), config_name="config", version_base="1.3")
def _hydra_main(cfg: DictConfig) -> float | None:
    summary = run(cfg)
    return summary.get("final_train_loss")


def main() -> None:
    """Console entry point: check every job of the command line, then hand it to Hydra."""
    try:
        preflight.check(sys.argv[1:])
    except ConfigError as err:
        print(f"suite-train: error: {err}", file=sys.stderr)
        sys.exit(2)
    _hydra_main()
