"""The lost-update guard: what fraction of the trainable coordinates a step actually changed.

In bf16 a weight ``w`` only moves when the update exceeds half a unit in the last place
(``|Δ| > 2**-9 · |w|`` roughly): with weights ~N(0, 0.02), a sign step of lr 1e-6 changes about
2% of the coordinates and 1e-4 about 85%, so a run can "train" for hours while standing still.
The probe samples up to ``per_tensor`` fixed coordinates of every parameter that requires grad
before the step and compares them after it; the fraction is weighted by tensor size. It
runs outside the step's clock and holds a few KiB per tensor, so it costs neither step time nor
memory that the protocol counts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
from torch import nn

log = logging.getLogger("suite.loop")


class UpdateProbe:
    """``before()`` the step, ``after()`` it: the estimated fraction of trainable coordinates changed.

    The sample is the first ``per_tensor`` coordinates of every trainable tensor (a view, so
    nothing is gathered); the copy, the difference and the count run as a handful of
    ``torch._foreach_*`` calls, whatever the number of tensors.
    """

    def __init__(self, tensors: Callable[[], list[torch.Tensor]], per_tensor: int = 1024):
        self.tensors = tensors
        self.per_tensor = per_tensor
        self._key: tuple = ()
        self._slices: list[torch.Tensor] = []
        self._weights = torch.empty(0, dtype=torch.float64)  # numel / sampled, per tensor
        self._saved: list[torch.Tensor] | None = None

    def _sample(self) -> None:
        """The views to compare, rebuilt only when the set of tensors (or a storage) changes."""
        tensors = list(self.tensors())
        key = tuple((id(t), t.data_ptr()) for t in tensors)
        if key != self._key:
            self._key = key
            self._slices = [t.detach().reshape(-1)[: self.per_tensor] for t in tensors]
            self._weights = torch.tensor(
                [t.numel() / min(t.numel(), self.per_tensor) for t in tensors], dtype=torch.float64
            )
            self._total = float(sum(t.numel() for t in tensors))

    def before(self) -> None:
        """Copy the sampled coordinates of every tensor the coming step may write."""
        self._sample()
        with torch.no_grad():
            self._saved = torch._foreach_mul(self._slices, 1) if self._slices else None

    def after(self) -> float | None:
        """The size-weighted fraction of the sampled coordinates that differ now (None: nothing trainable)."""
        if self._saved is None:
            return None
        with torch.no_grad():
            # old - new is 0 exactly when the value is unchanged (IEEE subtraction, subnormals kept),
            # so the 0-"norm" of the differences counts the coordinates the step moved
            torch._foreach_sub_(self._saved, self._slices)
            counts = torch.stack(torch._foreach_norm(self._saved, 0))
        self._saved = None
        return float(counts.cpu().double() @ self._weights) / self._total


def lost_update_warning(fraction: float, step: int, lr: float, dtype: torch.dtype) -> str:
    """The one warning a run gives when a step moved under half of its trainable coordinates."""
    return (
        f"only {100 * fraction:.0f}% of the trainable coordinates changed at step {step} "
        f"(lr {lr:.3g}, {str(dtype).removeprefix('torch.')} weights): updates below half a unit in the "
        f"last place are rounded away; use fp32 master weights (model.dtype=float32 train.autocast=bf16), "
        f"a method's stochastic rounding where it has one, or a larger lr"
    )


def trainable_parameters(model: nn.Module) -> list[torch.Tensor]:
    """The trainable parameters (under FSDP, this rank's local shards: a sample needs no collective)."""
    return [p.to_local() if hasattr(p, "to_local") else p for p in model.parameters() if p.requires_grad]


def updated_tensors(method) -> list[torch.Tensor]:
    """What a step writes: the method's own (fp32 masters, where it keeps them), else the model's
    parameters that require grad now (a block method's active block)."""
    if method.updated_tensors is not None:
        return method.updated_tensors()
    return trainable_parameters(method.model)


class LostUpdateGuard:
    """Measures ``update_applied_fraction`` on the logged steps whose lr is not 0 and warns once
    when a step after the first moved under half of the trainable coordinates (at step 1 LoRA's
    zero-initialised B leaves A's gradient zero by design), unless the optimizer rounds
    stochastically."""

    def __init__(self, method):
        self.method = method
        self.probe = UpdateProbe(lambda: updated_tensors(method))
        self.fractions: list[float] = []
        self.active = False
        self.warned = False

    def before(self, measure: bool) -> None:
        # a step at lr 0 (the first of a linear warm-up) is not meant to move anything
        self.active = measure and self.method.optimizer.param_groups[0].get("lr") != 0
        if self.active:
            self.probe.before()

    def after(self, step: int) -> float | None:
        if not self.active:
            return None
        fraction = self.probe.after()
        if fraction is None:
            return None
        self.fractions.append(fraction)
        # stochastic rounding moves few coordinates a step and loses nothing in expectation
        unbiased = getattr(self.method.optimizer, "stochastic_rounding", False)
        if fraction < 0.5 and step > 1 and not self.warned and not unbiased:
            self.warned = True
            lr = self.method.optimizer.param_groups[0].get("lr") or 0.0
            dtype = next(t.dtype for t in updated_tensors(self.method))
            log.warning(lost_update_warning(fraction, step, lr, dtype))
        return fraction

    @property
    def min(self) -> float | None:
        return min(self.fractions, default=None)

    @property
    def mean(self) -> float | None:
        return sum(self.fractions) / len(self.fractions) if self.fractions else None
