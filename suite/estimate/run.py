"""One estimate: the training loop's own step, on the meta device, under the loop's own meter.

The model comes from its architecture (``suite.estimate.architecture``), the method from its
YAML through ``suite.loop.build_method``, each step from ``suite.loop.train_step`` and the
memory categories from ``suite.measure.memory.MemoryMeter``, so an estimate counts exactly what
a measured run counts. Every micro-batch is ``train.batch_size`` sequences of ``estimate.length``
tokens: ``data.max_length`` (a run's batches are at most this long), or the experiment's
``padded_length`` where it states one (the expected length of a batch padded to its longest,
``suite.estimate.lengths``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, fields

import torch
from omegaconf import DictConfig, OmegaConf
from transformers import set_seed

from suite.errors import ConfigError
from suite.estimate.architecture import meta_model
from suite.estimate.meta import TARGETS, meta_step
from suite.loop import build_method, train_step
from suite.measure.breakdown import MemoryBreakdown
from suite.measure.memory import MemoryMeter
from suite.validate import validate

GIB = 2**30


@dataclass
class Estimate:
    """One estimate: the setting and the memory breakdown (its JSON keys as in ``summary.json``);
    ``max_length`` is the estimated sequence length (``estimate.length``)."""

    model: str
    method: str
    dtype: str
    batch_size: int
    max_length: int
    grad_accum: int
    gradient_checkpointing: bool
    device: str
    n_params: int
    n_trainable_params: int
    memory: MemoryBreakdown

    def to_json(self) -> dict:
        """The setting and one key per memory category, in bytes, the total last."""
        setting = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "memory"}
        return setting | self.memory.as_dict()


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
    if cfg.train.autocast is not None:
        raise ConfigError(
            f"train.autocast={cfg.train.autocast} cannot be estimated on the meta device; allowed: null "
            f"(set the weights' precision with model.dtype)"
        )


def meta_batch(batch_size: int, length: int) -> dict[str, torch.Tensor]:
    ids = torch.zeros(batch_size, length, dtype=torch.long, device="meta")
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids}


def measure(cfg: DictConfig) -> tuple[MemoryBreakdown, torch.nn.Module]:
    """Build on meta, run ``estimate.steps`` training steps, read the meter."""
    model = meta_model(OmegaConf.to_container(cfg.model, resolve=True))
    if cfg.train.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    meter = MemoryMeter(model)
    with meta_step(cfg.estimate.device):
        set_seed(cfg.seed)  # as the loop seeds torch before the method is built (suite.methods.seeding)
        method = build_method(cfg, model)
        meter.track(method.optimizer, method.extra_state)
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
            )
            meter.after_step()
    meter.close()
    return meter.breakdown(), method.model


def estimate(cfg: DictConfig) -> Estimate:
    """The memory breakdown of ``cfg``'s training step, estimated on the meta device."""
    check(cfg)
    breakdown, model = measure(cfg)
    return Estimate(
        model=cfg.model.name,
        method=cfg.method.name,
        dtype=cfg.model.dtype,
        batch_size=cfg.train.batch_size,
        max_length=cfg.estimate.length,
        grad_accum=cfg.train.grad_accum,
        gradient_checkpointing=cfg.train.gradient_checkpointing,
        device=cfg.estimate.device,
        n_params=sum(p.numel() for p in model.parameters()),
        n_trainable_params=sum(p.numel() for p in model.parameters() if p.requires_grad),
        memory=breakdown,
    )
