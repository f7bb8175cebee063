"""One estimate: the training loop's own step, on the meta device, under the loop's own meter.

The model comes from its architecture (``suite.estimate.architecture``), the method from its
YAML through ``suite.loop.build_method``, each step from ``suite.loop.train_step`` and the
memory categories from ``suite.measure.memory.MemoryMeter``, so an estimate counts exactly what
a measured run counts. Every micro-batch is ``train.batch_size`` sequences of ``estimate.length``
tokens: ``data.max_length`` (a run's batches are at most this long), or the experiment's
``padded_length`` where it states one (the expected length of a batch padded to its longest,
``suite.estimate.lengths``).

``distributed.world_size=K distributed.strategy=fsdp`` gives one rank's bytes under FSDP2: every
parameter the model had before the method was built is sharded along its first dimension into K
chunks of ``ceil(rows / K)`` rows (FSDP2 pads each to that size), and so are its gradient and its
optimizer state of the same shape; what the method adds (LoRA's adapters) and scalar state stay
whole, and activations are each rank's own batch. Under ddp every rank holds the one-process bytes.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, fields

import torch
from omegaconf import DictConfig, OmegaConf
from transformers import set_seed

from suite import distributed
from suite.errors import ConfigError
from suite.estimate.architecture import meta_model
from suite.estimate.meta import TARGETS, meta_step
from suite.loop import build_method, train_step
from suite.measure.breakdown import MemoryBreakdown
from suite.measure.memory import MemoryMeter
from suite.validate import validate

GIB = 2**30
HOST_KEY = "mem_host_state_bytes"  # as in summary.json


@dataclass
class Estimate:
    """One estimate: the setting and the memory breakdown (its JSON keys as in ``summary.json``);
    ``max_length`` is the estimated sequence length (``estimate.length``); ``host_state``: the bytes
    a CPU-offloading method keeps in host memory (``mem_host_state_bytes``; None for the others)."""

    model: str
    method: str
    dtype: str
    batch_size: int
    max_length: int
    grad_accum: int
    gradient_checkpointing: bool
    device: str
    ranks: int
    n_params: int
    n_trainable_params: int
    memory: MemoryBreakdown
    host_state: int | None = None

    def to_json(self) -> dict:
        """The setting and one key per memory category, in bytes, the total last, then the host
        state where the method keeps one."""
        setting = {
            f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("memory", "host_state")
        }
        host = {} if self.host_state is None else {HOST_KEY: self.host_state}
        return setting | self.memory.as_dict() | host


def check(cfg: DictConfig) -> None:
    """The training config's own checks, plus the estimator's, before anything is built."""
    if OmegaConf.is_missing(cfg.model, "path"):
        cfg.model.path = "unused: estimated on the meta device"
    validate(cfg)
    if cfg.estimate.device not in TARGETS:
        known = ", ".join(TARGETS)
        raise ConfigError(f"estimate.device={cfg.estimate.device!r} is not known; allowed: {known}")
    length = cfg.estimate.length
    if not (isinstance(length, int) and 1 <= length <= cfg.data.max_length):
        raise ConfigError(
            f"estimate.length={length!r} is out of range; allowed: an integer from 1 to "
            f"data.max_length={cfg.data.max_length} (the cut-off)"
        )
    if not (isinstance(cfg.estimate.steps, int) and cfg.estimate.steps >= 1):
        raise ConfigError(f"estimate.steps={cfg.estimate.steps!r} is out of range; allowed: an integer >= 1")
    ranks = cfg.distributed.get("world_size") or 1
    if not (isinstance(ranks, int) and ranks >= 1):
        raise ConfigError(f"distributed.world_size={ranks!r} is out of range; allowed: an integer >= 1")
    distributed.check(cfg, distributed.World(0, ranks, 0))
    if cfg.train.autocast is not None:
        raise ConfigError(
            f"train.autocast={cfg.train.autocast} cannot be estimated on the meta device; allowed: null "
            f"(set the weights' precision with model.dtype)"
        )


def meta_batch(batch_size: int, length: int) -> dict[str, torch.Tensor]:
    ids = torch.zeros(batch_size, length, dtype=torch.long, device="meta")
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids}


def measure(cfg: DictConfig) -> tuple[MemoryBreakdown, torch.nn.Module, int | None]:
    """Build on meta, run ``estimate.steps`` training steps, read the meter (its host state too,
    for a method that declares one)."""
    model = meta_model(OmegaConf.to_container(cfg.model, resolve=True))
    if cfg.train.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    sharded = {id(p) for p in model.parameters()}  # what FSDP would shard: the model's own
    meter = MemoryMeter(model)
    with meta_step(cfg.estimate.device):
        set_seed(cfg.seed)  # as the loop seeds torch before the method is built (suite.methods.seeding)
        method = build_method(cfg, model)
        meter.track(method.optimizer, method.extra_state, method.host_state)
        method.model.train()
        micro_batches = [meta_batch(cfg.train.batch_size, cfg.estimate.length)] * cfg.train.grad_accum
        for _ in range(cfg.estimate.steps):
            train_step(
                method,
                micro_batches,
                meter,
                contextlib.nullcontext(),
                method.grad_scaler,
                cfg.train.get("max_grad_norm"),
                loss_chunks=cfg.train.get("loss_chunks"),
            )
            meter.after_step()
    meter.close()
    host = None if method.host_state is None else meter.peak_host_state
    ranks = cfg.distributed.get("world_size") or 1
    if cfg.distributed.strategy == "fsdp" and ranks > 1:
        return per_rank(meter.breakdown(), method, sharded, ranks), method.model, host
    return meter.breakdown(), method.model, host


def shard_bytes(t: torch.Tensor, ranks: int) -> int:
    """One rank's bytes of ``t`` sharded by FSDP2 along dim 0 (``ceil(rows / ranks)`` rows, padded)."""
    if t.dim() == 0:
        return t.element_size()
    return math.ceil(t.shape[0] / ranks) * (t.numel() // t.shape[0]) * t.element_size()


def per_rank(whole: MemoryBreakdown, method, sharded: set[int], ranks: int) -> MemoryBreakdown:
    """One rank's share of ``whole`` under FSDP2: each parameter in ``sharded`` counts its shard,
    and so do its gradient (every gradient is alive at the peak of a method that steps after
    backward, the only kind FSDP runs) and its optimizer state tensors of its shape."""
    params = list({id(p): p for p in method.model.parameters()}.values())
    saved = {"params": 0, "grads": 0, "state": 0}
    for p in params:
        if id(p) not in sharded:
            continue
        saved["params"] += p.numel() * p.element_size() - shard_bytes(p, ranks)
        if p.requires_grad:
            saved["grads"] += p.numel() * p.element_size() - shard_bytes(p, ranks)
        for t in method.optimizer.state.get(p, {}).values():
            if isinstance(t, torch.Tensor) and t.shape == p.shape:
                saved["state"] += t.numel() * t.element_size() - shard_bytes(t, ranks)
    return MemoryBreakdown(
        params=whole.params - saved["params"],
        grads=whole.grads - saved["grads"],
        state=whole.state - saved["state"],
        activations=whole.activations,
    )


def estimate(cfg: DictConfig) -> Estimate:
    """The memory breakdown of ``cfg``'s training step, estimated on the meta device."""
    check(cfg)
    breakdown, model, host = measure(cfg)
    return Estimate(
        model=cfg.model.name,
        method=cfg.method.name,
        dtype=cfg.model.dtype,
        batch_size=cfg.train.batch_size,
        max_length=cfg.estimate.length,
        grad_accum=cfg.train.grad_accum,
        gradient_checkpointing=cfg.train.gradient_checkpointing,
        device=cfg.estimate.device,
        ranks=cfg.distributed.get("world_size") or 1,
        n_params=sum(p.numel() for p in model.parameters()),
        n_trainable_params=sum(p.numel() for p in model.parameters() if p.requires_grad),
        memory=breakdown,
        host_state=host,
    )
