"""The Hydra app: fine-tune a model with a method, measure it, record it (the loop itself is
:mod:`suite.loop`).

``suite-train method=signsgd train.max_steps=100`` runs one job; ``suite-train -m
method=adamw,signsgd`` sweeps; ``torchrun --nproc_per_node=K $(which suite-train) ...`` runs a job
on K ranks (suite/distributed.py). ``run`` reads top to bottom: setup -> train -> summarize -> finish.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import signal
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from transformers import set_seed

from suite import distributed, downstream, preflight, sweep, traits
from suite.checks import check_job
from suite.data.collate import check_supervised
from suite.errors import ConfigError
from suite.estimate.fit import check_fits
from suite.loop import (
    AUTOCAST,
    Job,
    Progress,
    build_method,
    evaluate_and_log,
    make_loader,
    make_scheduler,
    new_progress,
    pick_device,
    total_steps,
    train,
    without,
)
from suite.measure import device as devmem
from suite.measure.memory import MemoryMeter
from suite.resume import (
    capture,
    check_world_size,
    load_rank,
    restore,
    save_ranks,
    save_shards,
    stop_on_signals,
)
from suite.track import checkpoint, wandb_run
from suite.track.record import RunSummary
from suite.track.store import CHECKPOINT, CONFIG, FINISHED, RunFolder, outside_store, run_folder
from suite.track.weights import weights_hash
from suite.validate import validate

log = logging.getLogger(__name__)

# Keys (and groups of keys) a resumed run may change: the run modes, where the store is (a moved or
# copied store resumes; the experiment and run names, the folder's own, are compared), and the
# method's traits (the suite's description of how the method runs, not a setting of the run).
NOT_COMPARED = ("resume", "overwrite", "results_dir", "model.cache_dir", "method.traits")

# Recorded for every run, beside the method's own traits.packages.
CORE_PACKAGES = ("torch", "transformers", "hydra-core", "omegaconf", "wandb")


# ---------------------------------------------------------------- setup


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


def versions(packages: tuple[str, ...] = ()) -> dict[str, str | None]:
    """Installed versions of the core libraries and of the method's ``traits.packages``."""
    found = {}
    for lib in dict.fromkeys((*CORE_PACKAGES, *packages)):
        try:
            found[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            found[lib] = None
    return found


# ---------------------------------------------------------------- one step


# ---------------------------------------------------------------- the run


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
    where = run_folder(cfg)
    folder = RunFolder(where, cfg.results_dir) if world.main else distributed.QuietFolder(where)
    folder.claim(overwrite=cfg.overwrite, resume=cfg.resume)
    finished, resumed = resume_point(cfg, folder, world)
    if finished is not None:
        folder.release()
        log.warning(
            "%s already holds a finished run (status %s); resume=true leaves it as it is",
            folder.folder,
            finished["status"],
        )
        return finished
    if resumed is not None:
        folder.keep_metrics_through(resumed["step"])
    fresh = folder.previous() is None  # nothing here but what this run will write
    summary = new_summary(cfg, device)
    if world.size > 1:  # from the start: a resumed run is checked against it
        summary.extra["world_size"] = world.size
    tracker, refused = None, False
    try:
        with stop_on_signals() as stop:
            job = setup(cfg, device, folder, summary, world)
            tracker = job.tracker
            progress = new_progress(job)
            if resumed is not None:
                restore(job, progress, resumed)
            loss, step = train(job, progress, summary, stop, lambda p: save_state(job, p, summary))
            summarize(job, summary, loss, step, stop)
    except ConfigError:  # refused by setup (the data, the method): the run leaves no record
        refused = True
        raise
    except BaseException as err:
        summary.status = "oom" if isinstance(err, torch.OutOfMemoryError) else "failed"
        summary.error = one_line(err)
        raise
    finally:
        if refused and world.main:
            folder.abandon(fresh)
        elif refused:
            folder.release()
        else:
            finish(folder, summary, tracker)
    if world.main:
        print_summary(summary, folder.folder)
    return summary.to_json()


def one_line(err: BaseException) -> str:
    """The exception as one line; Hydra's instantiation wrapper gives way to its cause."""
    if isinstance(err, InstantiationException) and err.__cause__ is not None:
        err = err.__cause__
    return f"{type(err).__name__}: {err}".splitlines()[0]


def _exempt(key: str) -> bool:
    return any(key == n or key.startswith(f"{n}.") for n in NOT_COMPARED)


def check_same_config(cfg: DictConfig, folder: RunFolder) -> None:
    """Refuse to resume a folder whose ``config.yaml`` differs from ``cfg`` (see NOT_COMPARED)."""
    path = folder.folder / CONFIG
    if not path.exists():
        return
    before = flatten(OmegaConf.to_container(OmegaConf.load(path), resolve=True))
    now = flatten(OmegaConf.to_container(cfg, resolve=True))
    keys = sorted(before.keys() | now.keys())
    changed = [k for k in keys if not _exempt(k) and before.get(k) != now.get(k)]
    if changed:
        folder.release()
        raise ConfigError(
            f"resume=true but {changed[0]}={now.get(changed[0])!r} differs from the run in {folder.folder} "
            f"({before.get(changed[0])!r} there); resume with the same config or pass overwrite=true"
        )


def resume_point(
    cfg: DictConfig, folder: RunFolder, world: distributed.World
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Rank 0 reads what ``resume=true`` finds (under torchrun the others take its word): the
    summary of a finished run, left as it is, or the state to continue from (each rank's own part
    of it, :func:`suite.resume.load_rank`); (None, None) starts from step 0."""
    finished = resumed = None
    previous = folder.previous() if cfg.resume and world.main else None
    if previous is not None:
        check_same_config(cfg, folder)
        if previous.get("status") in FINISHED:
            finished = previous
        else:
            resumed = resume_state(cfg, folder, previous, world)
    if world.size == 1:
        return finished, resumed
    finished, step = distributed.from_main((finished, None if resumed is None else resumed["step"]), world)
    if step is not None and not world.main:
        resumed = load_rank(folder.folder, world, step)
    return finished, resumed


def resume_state(
    cfg: DictConfig, folder: RunFolder, previous: dict[str, Any] | None, world: distributed.World
) -> dict[str, Any] | None:
    """The checkpoint a ``resume=true`` run continues from; None: it starts from step 0 (a run
    killed before its first checkpoint starts again, its files cleared)."""
    if previous is None:
        return None
    path = folder.folder / CHECKPOINT
    if path.exists():
        try:
            state = checkpoint.load(path)
            check_world_size(state, path, world)
            return state
        except ConfigError:
            folder.release()
            raise
    log.warning(
        "%s has no checkpoint (status %s): resume=true starts the run again from step 0",
        folder.folder,
        previous.get("status", "unknown"),
    )
    folder.clear()
    return None


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
    return RunSummary.for_job(
        cfg,
        device=devmem.describe(device),
        torch_version=torch.__version__,
        git_commit=git_commit(),
        versions=versions(traits.of(cfg.method).packages),
    )


def setup(
    cfg: DictConfig, device: torch.device, folder: RunFolder, summary: RunSummary, world: distributed.World
) -> Job:
    """Model, data, method, schedule, loader, precision and tracker, in the order the protocol needs."""
    folder.write_config(cfg)
    summary.status = "running"
    folder.write_summary(summary)
    if world.size == 1:  # the estimate is one process's whole job (ranks shard or replicate it)
        check_fits(cfg, device)  # on CUDA: the estimator's bytes against the free memory, before any weight
    with distributed.main_first(world):
        model, tokenizer = instantiate(without(cfg.model, "name", "architecture"))
    summary.base_weights_hash = weights_hash(model)  # before any method wraps or casts it
    model.to(device)
    summary.load_peak_reserved_bytes = devmem.cuda_peaks(device)["peak_reserved_bytes"]
    splits = instantiate(without(cfg.data, "name", "max_length"))
    check_supervised(splits.train, tokenizer, cfg.data.max_length)
    if cfg.train.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.config.use_cache = False
    if world.size > 1 and cfg.distributed.strategy == "fsdp":  # before the method holds the parameters
        distributed.shard_model(model, cfg.distributed.mixed_precision)
    # The meter comes before the method: its gradient hook must run before any hook the method
    # registers (fused methods free each gradient in theirs) and while every parameter requires grad.
    meter = MemoryMeter(model)
    method = build_method(cfg, model)
    meter.track(method.optimizer, method.extra_state, method.host_state)
    ranks = distributed.prepare(method, cfg.method, world, device, cfg.distributed.strategy)
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
        cfg=cfg,
        device=device,
        folder=folder,
        method=method,
        tokenizer=tokenizer,
        splits=splits,
        meter=meter,
        loader=make_loader(cfg, train_set, tokenizer),
        scheduler=make_scheduler(cfg, method, max_steps),
        autocast=autocast,
        scaler=scaler,
        max_steps=max_steps,
        tracker=tracker,
        world=world,
        ranks=ranks,
    )


def save_state(job: Job, progress: Progress, summary: RunSummary) -> None:
    """A resumable checkpoint (under torchrun, every rank's part), and a running summary that
    says how far it got."""
    state = capture(job, progress)
    if job.world.size == 1:
        checkpoint.save(job.folder.folder / CHECKPOINT, state)
    else:  # voting ranks keep their own optimizer state (momentum, noise); DDP's are equal
        if job.ranks.kind == "fsdp":
            save_shards(job, progress.step)
        save_ranks(job.folder.folder, state, job.world, own_optimizer=job.ranks.kind == "vote")
    job.folder.close_metrics()  # fsync the rows the checkpoint covers
    summary.steps = progress.step
    job.folder.write_summary(dataclasses.replace(summary, status="running"))


def summarize(job: Job, summary: RunSummary, loss: float, step: int, stop: list[str]) -> None:
    """Memory and counts first, then the evaluations, then the checkpoint; a signal caught on the
    way (``stop``) ends the run as interrupted, without a partial score."""
    model = job.method.model
    summary.final_train_loss, summary.steps = loss, step
    if job.method.step_stats is not None:  # the method's own scalars after the last step
        summary.extra.update(job.method.step_stats())
    # Memory is read before evaluation, so generation never counts towards the training peaks.
    summary.memory = job.meter.breakdown()
    if job.method.host_state is not None:  # CPU-offloaded state: host memory, none of the device categories
        summary.extra["mem_host_state_bytes"] = job.meter.peak_host_state
    summary.audit = job.meter.audit
    # Peaks over every piece of a resumed run (train() read them before returning).
    summary.peak_reserved_bytes = job.peaks["peak_reserved_bytes"]
    summary.peak_allocated_bytes = job.peaks["peak_allocated_bytes"]
    summary.peak_rss_bytes = job.peaks["peak_rss_bytes"]
    if job.world.size > 1:
        record_ranks(job, summary)
    summary.n_trainable_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    summary.n_params = sum(p.numel() for p in model.parameters())
    job.meter.close()
    job.method.to_eval()  # the run's model from here on: evaluated, saved (Schedule-Free's x)
    if summary.status == "ok" and (job.world.main or job.ranks.kind == "fsdp"):  # FSDP: every rank runs
        summary.eval_exact_match = evaluate_and_log(job, step, stop)
        if job.cfg.lm_eval.tasks and not stop:
            scores = downstream.evaluate_and_log(
                job.cfg.lm_eval, model, job.tokenizer, job.splits.test, step, job.folder, job.tracker
            )
            summary.extra.update(scores)
    if job.cfg.save_checkpoint:
        whole = distributed.full_state_dict(model) if job.ranks.kind == "fsdp" else None
        if job.world.main:
            save_checkpoint(model, job.tokenizer, job.folder.folder / "checkpoint", whole)
    if stop and summary.status == "ok":
        summary.status, summary.error = "interrupted", f"{stop[0]} after step {step}, before the run ended"
        log.warning("%s after step %d: the run ends interrupted", stop[0], step)


def record_ranks(job: Job, summary: RunSummary) -> None:
    """Every rank's peaks (the summary's peak is the largest, per rank in ``*_per_rank``) and memory
    categories (``mem_*_bytes_per_rank``), how the ranks ran (``distributed``: ddp, vote or fsdp),
    whether their weights agree (not under FSDP, where each holds its own shards) and the bytes
    sent per step (under FSDP also its all-gathers and reduce-scatters)."""
    per_rank = distributed.gather_peaks(job.peaks, job.world)
    for key, values in per_rank.items():
        known = [v for v in values if v is not None]
        setattr(summary, key, max(known) if known else None)
        summary.extra[f"{key}_per_rank"] = values
    for key, values in distributed.gather_peaks(summary.memory.as_dict(), job.world).items():
        summary.extra[f"{key}_per_rank"] = values  # what each rank holds: under FSDP, its shards
    summary.extra["world_size"] = job.world.size
    summary.extra["distributed"] = job.ranks.kind
    if job.ranks.kind == "fsdp":  # each rank holds other shards
        summary.extra["distributed_mixed_precision"] = job.cfg.distributed.mixed_precision
        summary.extra.update(job.ranks.traffic.summary())
        return
    summary.extra["ranks_weights_agree"] = distributed.weights_agree(job.method.model, job.world)
    if not summary.extra["ranks_weights_agree"]:
        log.warning("the ranks ended with different weights; rank 0's are the run's")
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


def save_checkpoint(
    model: torch.nn.Module, tokenizer, folder: Path, state_dict: dict[str, torch.Tensor] | None = None
) -> None:
    """An HF-format checkpoint that ``from_pretrained`` and ``lm_eval --model hf`` load as is
    (adapters are merged first; ``state_dict``: the whole weights of a sharded model)."""
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    model.save_pretrained(folder, state_dict=state_dict)
    tokenizer.save_pretrained(folder)


def print_summary(s: RunSummary, folder: Path) -> None:
    mib = 2**20
    em = "n/a" if s.eval_exact_match is None else f"{s.eval_exact_match:.3f}"
    labels = s.memory.labels()
    memory = "  ".join(f"{labels[key]} {value / mib:.2f}" for key, value in s.memory.as_dict().items())
    lines = [
        f"{s.method} on {s.model}/{s.data} ({s.device}): status {s.status}",
        f"  final train loss {s.final_train_loss:.4f}   exact match {em}",
        f"  memory MiB: {memory}   (peak RSS {s.peak_rss_bytes / mib:.0f})",
        f"  wall-clock {s.wall_clock_s:.1f}s over {s.steps} steps,"
        f" median step {1e3 * s.step_time_median_s:.1f} ms",
        f"  results: {folder}",
    ]
    print("\n".join(lines), flush=True)


def remove_empty_folders(folder: Path, root: Path) -> None:
    """Remove the empty folders Hydra made for a job that was refused, up to ``root``."""
    if outside_store(folder, root):  # never walk up through folders that are not the store's
        return
    while folder != root and folder != folder.parent and not folder.is_symlink():
        if folder.is_dir() and any(folder.iterdir()):
            return
        if folder.is_dir():
            folder.rmdir()
        folder = folder.parent  # a run folder the store already removed leaves its parents here


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
    """Check every job of the command line, then start the app (the console entry,
    :mod:`suite.train_cli`, does the same without importing this module for a refused command)."""
    preflight.check_command_line(sys.argv[1:])
    start()


def start() -> None:
    """Hand the checked command line to Hydra, joblib sweeps surviving a lost worker."""
    sweep.survive_lost_workers()
    _hydra_main()
