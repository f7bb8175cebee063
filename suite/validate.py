"""Check a composed config before any work is done; every problem is one line that says what was
wrong and what is allowed."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, OmegaConf

from suite.errors import ConfigError


def _int_at_least(low: int) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low, f"an integer >= {low}")


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _positive() -> tuple[Callable[[Any], bool], str]:
    return (lambda v: _number(v) and v > 0, "a finite number > 0")


def _non_negative() -> tuple[Callable[[Any], bool], str]:
    return (lambda v: _number(v) and v >= 0, "a finite number >= 0")


def _one_of(*choices) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: v in choices, "one of " + ", ".join(str(c) for c in choices))


MAX_NAME = 120  # characters of a run or experiment name


def _folder_name() -> tuple[Callable[[Any], bool], str]:
    """One path component: the run stays inside its experiment, the experiment inside the store."""

    def ok(v: Any) -> bool:
        if isinstance(v, int) and not isinstance(v, bool):
            v = str(v)
        return (
            isinstance(v, str)
            and 0 < len(v) <= MAX_NAME
            and v not in (".", "..")
            and not any(c in v for c in "/\\")
            and v.isprintable()
        )

    return ok, f"a folder name of 1 to {MAX_NAME} printable characters, without / or \\, not . or .."


def _folder_path() -> tuple[Callable[[Any], bool], str]:
    """Folder names joined by /: an experiment nested in the store (suite-compare's
    compare/<name>/<workload>), still inside it."""
    one, text = _folder_name()
    return (
        lambda v: (
            (isinstance(v, int) and not isinstance(v, bool))
            or (isinstance(v, str) and all(one(p) for p in v.split("/")))
        ),
        f"{text} (or such names joined by /)",
    )


def _optional(rule):
    check, text = rule
    return (lambda v: v is None or check(v), f"null or {text}")


# transformers.SchedulerType's values, written out so that checking a command line needs no torch
# (tests/test_bad_input.py keeps the two equal).
SCHEDULERS = (
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant",
    "constant_with_warmup",
    "inverse_sqrt",
    "reduce_lr_on_plateau",
    "cosine_with_min_lr",
    "cosine_warmup_with_min_lr",
    "warmup_stable_decay",
    "greedy",
)

# transformers schedules whose step() takes a metric, which the loop does not pass.
METRIC_SCHEDULERS = ("reduce_lr_on_plateau", "greedy")

# (dotted key, rule); a key absent from the config is not checked.
RULES: list[tuple[str, tuple[Callable[[Any], bool], str]]] = [
    ("seed", _int_at_least(0)),
    ("experiment_name", _folder_path()),
    ("run_name", _folder_name()),
    ("device", _one_of("auto", "cpu", "cuda")),
    ("train.max_steps", _int_at_least(1)),
    ("train.epochs", _optional(_positive())),
    ("train.batch_size", _int_at_least(1)),
    ("train.grad_accum", _int_at_least(1)),
    ("train.warmup_steps", _int_at_least(0)),
    ("train.warmup_ratio", _optional((lambda v: _number(v) and 0 <= v < 1, "a number in [0, 1)"))),
    ("train.lr_scheduler", _one_of(*SCHEDULERS)),
    ("train.min_lr_ratio", _optional((lambda v: _number(v) and 0 < v <= 1, "a number in (0, 1]"))),
    ("train.max_grad_norm", _optional(_positive())),
    ("train.checkpoint_every", _optional(_int_at_least(1))),
    ("overwrite", _one_of(True, False)),
    ("resume", _one_of(True, False)),
    ("train.autocast", _one_of(None, "bf16", "fp16")),
    ("train.gradient_checkpointing", _one_of(True, False)),
    ("train.loss_chunks", _optional(_int_at_least(1))),
    ("train.log_every", _int_at_least(1)),
    ("train.eval_every", _optional(_int_at_least(1))),
    ("train.target_loss", _optional(_positive())),
    ("train.val_every", _optional(_int_at_least(1))),
    ("train.val_target_loss", _optional(_positive())),
    ("data.n_val", _int_at_least(0)),
    ("eval.n_examples", _int_at_least(0)),
    ("eval.batch_size", _int_at_least(1)),
    ("eval.max_new_tokens", _int_at_least(1)),
    ("data.max_length", _int_at_least(8)),
    ("method.lr", _optional(_positive())),
    ("method.weight_decay", _non_negative()),
    ("method.momentum", (lambda v: _number(v) and 0 <= v < 1, "a number in [0, 1)")),
    ("method.depth_bias", _non_negative()),
    ("method.r", _int_at_least(1)),
    ("method.rank", _int_at_least(1)),
    ("logger.mode", _one_of("online", "offline", "disabled")),
    ("lm_eval.limit", _optional(_int_at_least(1))),
    ("lm_eval.batch_size", _int_at_least(1)),
    ("lm_eval.max_gen_toks", _int_at_least(1)),
    ("memory.audit_step", _optional(_int_at_least(1))),
    ("memory.timeline", _one_of(True, False)),
]


def missing_values(cfg: DictConfig) -> list[str]:
    return sorted(k for k in OmegaConf.missing_keys(cfg) if not k.startswith("hydra"))


def validate(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` for the first missing value or out-of-range setting."""
    if "toy" in cfg:
        raise ConfigError(
            f"experiment {cfg.experiment_name} is not an LLM job; run it with "
            f"python -m suite.toy experiment={cfg.experiment_name}"
        )
    missing = missing_values(cfg)
    if missing:
        raise ConfigError(
            f"missing required value {missing[0]}: set it on the command line, e.g. {missing[0]}=<value>"
        )
    for key, (check, allowed) in RULES:
        value = OmegaConf.select(cfg, key, default="__absent__")
        if value == "__absent__":
            continue
        if not check(value):
            raise ConfigError(f"{key}={value!r} is out of range; allowed: {allowed}")
    scheduler = OmegaConf.select(cfg, "train.lr_scheduler", default=None)
    if "min_lr" in str(scheduler) and OmegaConf.select(cfg, "train.min_lr_ratio", default=None) is None:
        raise ConfigError(
            f"train.lr_scheduler={scheduler} needs train.min_lr_ratio, the floor as a "
            "fraction of the lr in (0, 1] (e.g. 0.1)"
        )
    if scheduler in METRIC_SCHEDULERS:
        raise ConfigError(
            f"train.lr_scheduler={scheduler} steps on a metric (scheduler.step(metric)), which the loop "
            f"does not pass; use a step-count schedule, e.g. cosine, linear or constant_with_warmup"
        )
    data = cfg.get("data")
    if data is not None and "hub_name" in data and data.path is None and data.hub_name is None:
        raise ConfigError(
            "no data source: set data.path to a local jsonl file or data.hub_name to a hub dataset"
        )
    if cfg.train.get("val_target_loss") is not None and not cfg.train.get("val_every"):
        raise ConfigError(
            "train.val_target_loss needs the validation loss: set train.val_every=<steps> (data.n_val >= 1)"
        )
    if cfg.train.get("val_every") and data is not None and data.get("n_val") == 0:
        raise ConfigError("train.val_every needs a validation split: set data.n_val >= 1")
    ratio = OmegaConf.select(cfg, "train.warmup_ratio")
    if ratio is not None and cfg.train.warmup_steps != 0:
        raise ConfigError(
            f"train.warmup_ratio={ratio} and train.warmup_steps={cfg.train.warmup_steps} are both set; "
            f"allowed: one of them (with a ratio, set train.warmup_steps=0)"
        )
    chunks, length = OmegaConf.select(cfg, "train.loss_chunks"), OmegaConf.select(cfg, "data.max_length")
    if chunks is not None and length is not None and chunks > length - 1:
        raise ConfigError(
            f"train.loss_chunks={chunks} is more than the {length - 1} predicted tokens of "
            f"data.max_length={length}; allowed: 1 to {length - 1}"
        )
    if OmegaConf.select(cfg, "memory.timeline") and OmegaConf.select(cfg, "memory.audit_step") is None:
        raise ConfigError("memory.timeline=true draws the audited step: set memory.audit_step=<step>, e.g. 2")
    if cfg.train.autocast == "fp16" and cfg.device == "cpu":
        raise ConfigError(
            "train.autocast=fp16 needs CUDA (it uses a GradScaler); on CPU use train.autocast=bf16 or null"
        )
