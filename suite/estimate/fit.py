"""Will it fit: the estimator's bytes (``suite.estimate.run``) against a budget or a GPU's free
memory, before any weight is loaded.

* ``suite-estimate --budget 24GiB`` (or ``estimate.budget=24GiB``): for each method, the largest
  micro-batch whose estimated bytes fit the budget (:func:`largest_micro_batch`);
* on CUDA, ``suite-train`` compares the job's estimated bytes with
  ``torch.cuda.mem_get_info``'s free bytes before it loads the model (:func:`check_fits`) and
  refuses a job that cannot fit, in one line naming both figures and settings that would fit.

The estimate is the four categories (``mem_total_bytes``): a job above the free memory cannot
run; one below it can still run out of memory by what the categories leave out (the audit's
``mem_other_bytes``, ``suite.measure.audit``) and by the allocator's cache, so the check refuses
only what cannot fit.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass

import torch
from omegaconf import DictConfig, OmegaConf

from suite import traits
from suite.errors import ConfigError
from suite.estimate.run import check, measure

log = logging.getLogger(__name__)

UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
UNITS |= {"KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}
GIB = 2**30


def parse_bytes(text: str | int) -> int:
    """``"24GiB"``, ``"80GB"``, ``"512MiB"`` or a number of bytes, as bytes."""
    found = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([A-Za-z]*)\s*", str(text))
    if found is None or found.group(2).upper() not in UNITS:
        raise ConfigError(
            f"estimate.budget={text!r} is not a size; allowed: a number with B, GB, GiB, MiB, ..."
        )
    return int(float(found.group(1)) * UNITS[found.group(2).upper()])


def estimate_config(cfg: DictConfig, **train: object) -> DictConfig:
    """``cfg`` as the estimator reads it (one step at ``data.max_length`` on CUDA's kernels unless
    ``cfg.estimate`` says otherwise), with ``train`` settings replaced."""
    plain = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    defaults = {"device": "cuda", "steps": 1, "length": cfg.data.max_length, "out": None, "budget": None}
    plain.estimate = defaults | dict(plain.get("estimate") or {})
    plain.train.update(train)
    return plain


def total_bytes(cfg: DictConfig, **train: object) -> int:
    """The estimated ``mem_total_bytes`` of ``cfg`` with ``train`` settings replaced."""
    return measure(estimate_config(cfg, **train))[0].total


def largest_micro_batch(cfg: DictConfig, budget: int, **train: object) -> tuple[int | None, int | None]:
    """The largest micro-batch, at most the job's global batch, whose estimate fits ``budget``,
    and its bytes; (None, bytes at 1) when not even one sequence fits. Doubling, then bisection:
    the bytes grow with the micro-batch."""
    global_batch = cfg.train.batch_size * cfg.train.grad_accum
    fits, fits_bytes = None, None
    low, high = 1, None
    while high is None:
        used = total_bytes(cfg, batch_size=low, grad_accum=1, **train)
        if used > budget:
            high = low
        else:
            fits, fits_bytes = low, used
            if low >= global_batch:
                return fits, fits_bytes
            low = min(2 * low, global_batch)
    if fits is None:
        return None, used
    low = fits + 1
    while low < high:
        middle = (low + high) // 2
        used = total_bytes(cfg, batch_size=middle, grad_accum=1, **train)
        if used > budget:
            high = middle
        else:
            fits, fits_bytes, low = middle, used, middle + 1
    return fits, fits_bytes


@dataclass
class Fit:
    """One method against a budget: the largest micro-batch that fits and its bytes."""

    model: str
    method: str
    length: int
    gradient_checkpointing: bool
    budget_gib: float
    global_batch: int
    micro_batch: int | None
    total_gib: float | None

    @property
    def accumulation(self) -> int | None:
        """Accumulation steps that keep the global batch at the largest micro-batch."""
        return None if self.micro_batch is None else math.ceil(self.global_batch / self.micro_batch)


def fit(cfg: DictConfig) -> Fit:
    """``cfg``'s method against ``estimate.budget``."""
    check(cfg)
    budget = parse_bytes(cfg.estimate.budget)
    batch, used = largest_micro_batch(cfg, budget)
    return Fit(
        model=cfg.model.name,
        method=cfg.method.name,
        length=cfg.estimate.length,
        gradient_checkpointing=cfg.train.gradient_checkpointing,
        budget_gib=budget / GIB,
        global_batch=cfg.train.batch_size * cfg.train.grad_accum,
        micro_batch=batch,
        total_gib=None if batch is None else used / GIB,
    )


LOSS_CHUNKS = 8  # the chunked loss a refusal suggests (``suite.chunked_loss``)


def would_fit(cfg: DictConfig, free: int) -> list[str]:
    """Settings under which ``cfg`` fits ``free`` bytes: gradient checkpointing, the loss over
    chunks of the sequence, a smaller micro-batch with accumulation (a smaller batch for a method
    that cannot accumulate)."""
    settings = []
    if not cfg.train.gradient_checkpointing and total_bytes(cfg, gradient_checkpointing=True) <= free:
        settings.append("train.gradient_checkpointing=true")
    if (cfg.train.get("loss_chunks") or 1) == 1 and total_bytes(cfg, loss_chunks=LOSS_CHUNKS) <= free:
        settings.append(f"train.loss_chunks={LOSS_CHUNKS}")
    batch, _ = largest_micro_batch(cfg, free)
    if batch is not None and batch < cfg.train.batch_size:
        global_batch = cfg.train.batch_size * cfg.train.grad_accum
        if traits.of(cfg.method).updates_in_backward:
            settings.append(f"train.batch_size={batch} (the method cannot accumulate gradients)")
        else:
            settings.append(f"train.batch_size={batch} train.grad_accum={math.ceil(global_batch / batch)}")
    return settings


def check_fits(cfg: DictConfig, device: torch.device) -> None:
    """On CUDA, refuse a job whose estimated bytes exceed the device's free memory (before the
    weights load). A job under autocast is not checked: the meta device cannot run it."""
    if device.type != "cuda":
        return
    if cfg.train.autocast is not None:
        log.info("train.autocast=%s: the job's memory is not estimated before it starts", cfg.train.autocast)
        return
    free, _ = torch.cuda.mem_get_info(device)
    need = total_bytes(cfg)
    if need <= free:
        return
    settings = would_fit(cfg, free)
    fixes = (
        "; ".join(settings)
        if settings
        else "none of gradient checkpointing, a chunked loss or a smaller micro-batch"
    )
    raise ConfigError(
        f"the job needs {need / GIB:.2f} GiB (suite-estimate: params + grads + state + activations) but "
        f"{device} has {free / GIB:.2f} GiB free; would fit: {fixes}"
    )
