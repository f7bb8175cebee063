"""The Hydra app: fine-tune a model with a method, measure it, record it.

``suite-train method=signsgd train.max_steps=100`` runs one job; ``suite-train -m
method=adamw,signsgd`` sweeps. The loop reads top to bottom: setup, train, evaluate, record.
"""

from __future__ import annotations

import contextlib
import logging
import math
import subprocess
import sys
from collections.abc import Iterator
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
from suite.methods import Method
from suite.track import wandb_run
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
) -> float:
    """Forward and backward over the micro-batches, then one update; returns the mean loss."""
    total = 0.0
    for batch in micro_batches:
        with meter.measure_activations(), autocast:
            loss = method.model(**batch).loss / len(micro_batches)
        method.backward(scaler.scale(loss) if scaler is not None else loss)
        total += loss.detach()
    if not method.updates_in_backward:
        if scaler is not None and method.grad_scaler is None:
            scaler.step(method.optimizer)
        else:
            method.optimizer.step()
        if scaler is not None:
            scaler.update()
        method.optimizer.zero_grad(set_to_none=True)
    return float(total)


# ---------------------------------------------------------------- the run


def run(cfg: DictConfig) -> dict[str, Any]:
    """Fine-tune, evaluate and record one job; returns its summary."""
    validate(cfg)
    device = pick_device(cfg.device)
    set_seed(cfg.seed)
    record = RunFolder(run_folder(cfg))
    summary: dict[str, Any] = {
        "method": cfg.method.name,
        "model": cfg.model.name,
        "data": cfg.data.name,
        "seed": cfg.seed,
        "experiment": cfg.experiment_name,
        "run_name": cfg.run_name,
        "status": "failed",
        "device": devmem.describe(device),
        "torch_version": torch.__version__,
        "git_commit": git_commit(),
        "versions": versions(),
    }
    tracker = None
    try:
        record.write_config(cfg)
        model, tokenizer = instantiate(without(cfg.model, "name"))
        model.to(device)
        summary["load_peak_reserved_bytes"] = devmem.cuda_peaks(device)["peak_reserved_bytes"]
        splits = instantiate(without(cfg.data, "name", "max_length"))
        if cfg.train.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False

        meter = MemoryMeter(model)
        method = build_method(cfg, model)
        meter.track(method.optimizer, method.extra_state)
        steps_per_epoch = len(splits.train) // (cfg.train.batch_size * cfg.train.grad_accum)
        max_steps = math.ceil(cfg.train.epochs * steps_per_epoch) if cfg.train.epochs else cfg.train.max_steps
        scheduler = (
            get_scheduler(
                cfg.train.lr_scheduler,
                method.optimizer,
                num_warmup_steps=cfg.train.warmup_steps,
                num_training_steps=max_steps,
            )
            if method.uses_lr_schedule
            else None
        )
        loader = DataLoader(
            splits.train,
            batch_size=cfg.train.batch_size,
            shuffle=True,
            drop_last=True,
            collate_fn=CausalCollator(tokenizer, cfg.data.max_length),
            generator=torch.Generator().manual_seed(cfg.seed),
        )
        autocast = (
            torch.autocast(device.type, dtype=AUTOCAST[cfg.train.autocast])
            if cfg.train.autocast
            else contextlib.nullcontext()
        )
        scaler = method.grad_scaler or (
            torch.amp.GradScaler(device.type) if cfg.train.autocast == "fp16" else None
        )
        tracker = wandb_run.start(cfg, str(record.folder), cfg.run_name, cfg.experiment_name)
        method.model.train()

        devmem.reset_peaks(device)
        clock = TrainClock(device, cfg.train.target_loss)
        summary["status"] = "ok"
        loss = float("nan")
        bar = tqdm(total=max_steps, desc=f"{cfg.method.name}", dynamic_ncols=True)
        for step, micro_batches in enumerate(batches(loader, cfg.train.grad_accum), start=1):
            micro_batches = [{k: v.to(device) for k, v in b.items()} for b in micro_batches]
            clock.start()
            loss = train_step(method, micro_batches, meter, autocast, scaler)
            seconds = clock.stop(loss)
            meter.after_step()
            if scheduler is not None:
                scheduler.step()
            if not math.isfinite(loss):
                summary["status"] = "diverged"
                log.warning("loss is %s at step %d: stopping", loss, step)
                break
            bar.update()
            bar.set_postfix(
                loss=f"{loss:.4f}", step_ms=f"{1e3 * seconds:.0f}", grads_MB=f"{meter.peak_grads / 2**20:.1f}"
            )
            if step % cfg.train.log_every == 0 or step == max_steps:
                row = {
                    "train/step": step,
                    "train/loss": loss,
                    "train/lr": method.optimizer.param_groups[0]["lr"],
                    "train/wall_clock_s": clock.elapsed,
                    "train/step_time_s": seconds,
                    "mem/grads_bytes": meter.peak_grads,
                    "mem/rss_bytes": devmem.peak_rss_bytes(),
                }
                row.update(
                    {
                        f"mem/cuda_{k.split('_')[1]}_bytes": v
                        for k, v in devmem.cuda_peaks(device).items()
                        if v is not None
                    }
                )
                record.log(row)
                tracker.log(row)
            if cfg.train.eval_every and step % cfg.train.eval_every == 0 and step < max_steps:
                evaluate_and_log(cfg, method, tokenizer, splits.test, step, record, tracker)
            if step >= max_steps:
                break
        bar.close()

        summary.update(
            final_train_loss=loss,
            steps=step,
            wall_clock_s=clock.elapsed,
            step_time_median_s=clock.median_step,
            time_to_target_s=clock.time_to_target,
            target_loss=cfg.train.target_loss,
        )
        summary.update(meter.breakdown().as_dict())
        summary.update(devmem.cuda_peaks(device))
        summary["peak_rss_bytes"] = devmem.peak_rss_bytes()
        summary["n_trainable_params"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
        summary["n_params"] = sum(p.numel() for p in model.parameters())
        summary["eval_exact_match"] = (
            evaluate_and_log(cfg, method, tokenizer, splits.test, step, record, tracker)
            if summary["status"] == "ok"
            else None
        )
        meter.close()
        if cfg.lm_eval.tasks and summary["status"] == "ok":
            summary.update(
                downstream.evaluate_and_log(
                    cfg.lm_eval, method.model, tokenizer, splits.test, step, record, tracker
                )
            )
        if cfg.save_checkpoint:
            save_checkpoint(method.model, tokenizer, record.folder / "checkpoint")
    except BaseException as err:
        summary["status"] = "failed"
        summary["error"] = f"{type(err).__name__}: {err}"
        raise
    finally:
        record.flush_metrics()
        record.write_summary(summary)
        if tracker is not None:
            tracker.finish(summary, exit_code=0 if summary["status"] != "failed" else 1)
    print_summary(summary, record.folder)
    return summary


def evaluate_and_log(cfg, method, tokenizer, test, step, record, tracker) -> float | None:
    if cfg.eval.n_examples == 0:
        return None
    acc = exact_match_accuracy(
        method.model,
        tokenizer,
        test[: cfg.eval.n_examples],
        batch_size=cfg.eval.batch_size,
        max_new_tokens=cfg.eval.max_new_tokens,
    )
    row = {"train/step": step, "eval/exact_match": acc}
    record.log(row)
    tracker.log(row)
    return acc


def save_checkpoint(model: torch.nn.Module, tokenizer, folder: Path) -> None:
    """An HF-format checkpoint that ``from_pretrained`` and ``lm_eval --model hf`` load as is
    (adapters are merged first)."""
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def print_summary(s: dict[str, Any], folder: Path) -> None:
    mib = 2**20
    em = "n/a" if s.get("eval_exact_match") is None else f"{s['eval_exact_match']:.3f}"
    lines = [
        f"{s['method']} on {s['model']}/{s['data']} ({s['device']}): status {s['status']}",
        f"  final train loss {s['final_train_loss']:.4f}   exact match {em}",
        f"  memory MiB: params {s['mem_params_bytes'] / mib:.2f}  grads {s['mem_grads_bytes'] / mib:.2f}"
        f"  state {s['mem_state_bytes'] / mib:.2f}  activations {s['mem_activations_bytes'] / mib:.2f}"
        f"  total {s['mem_total_bytes'] / mib:.2f}   (peak RSS {s['peak_rss_bytes'] / mib:.0f})",
        f"  wall-clock {s['wall_clock_s']:.1f}s over {s['steps']} steps, "
        f"median step {1e3 * s['step_time_median_s']:.1f} ms",
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
