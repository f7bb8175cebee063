"""Wall-clock of training only: the device is synchronized before every clock read."""

from __future__ import annotations

import statistics
import time

import torch

from suite.measure.device import synchronize


class TrainClock:
    """Accumulates training time step by step; evaluation between steps is not counted.

    Two targets: a training loss, checked at every step, and a validation loss, checked whenever
    one is measured (AlgoPerf's time to a validation target: arXiv 2306.07179, and
    mlcommons/algorithmic-efficiency ``docs/DOCUMENTATION.md``, Scoring); each time is the
    training wall-clock when the target was first reached, None while it was not."""

    def __init__(
        self, device: torch.device, target_loss: float | None = None, val_target_loss: float | None = None
    ):
        self.device = device
        self.target_loss = target_loss
        self.val_target_loss = val_target_loss
        self.elapsed = 0.0
        self.step_times: list[float] = []
        self.time_to_target: float | None = None
        self.time_to_val_target: float | None = None
        self.val_loss: float | None = None  # the last validation loss measured
        self._start: float | None = None

    def start(self) -> None:
        synchronize(self.device)
        self._start = time.perf_counter()

    def stop(self, loss: float) -> float:
        """End one step whose training loss was ``loss``; returns the step's seconds."""
        synchronize(self.device)
        seconds = time.perf_counter() - self._start
        self.elapsed += seconds
        self.step_times.append(seconds)
        self.untimed(loss)
        return seconds

    def untimed(self, loss: float) -> None:
        """A step run off the clock (the memory audit's, ``suite.measure.audit``): its time is not
        counted, its loss is checked against the target at the time so far."""
        if self.target_loss is not None and self.time_to_target is None and loss <= self.target_loss:
            self.time_to_target = self.elapsed

    def validated(self, val_loss: float) -> None:
        """A validation loss measured after the steps so far (its own time is not counted)."""
        self.val_loss, target = val_loss, self.val_target_loss
        if target is not None and self.time_to_val_target is None and val_loss <= target:
            self.time_to_val_target = self.elapsed

    def state_dict(self) -> dict:
        return {
            "elapsed": self.elapsed,
            "step_times": list(self.step_times),
            "time_to_target": self.time_to_target,
            "time_to_val_target": self.time_to_val_target,
            "val_loss": self.val_loss,
        }

    def load_state_dict(self, state: dict) -> None:
        self.elapsed, self.step_times = state["elapsed"], list(state["step_times"])
        self.time_to_target = state["time_to_target"]
        # absent from older checkpoints
        self.time_to_val_target, self.val_loss = state.get("time_to_val_target"), state.get("val_loss")

    @property
    def median_step(self) -> float | None:
        return statistics.median(self.step_times) if self.step_times else None
