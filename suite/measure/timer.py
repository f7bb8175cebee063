"""Wall-clock of training only: the device is synchronized before every clock read."""

from __future__ import annotations

import statistics
import time

import torch

from suite.measure.device import synchronize


class TrainClock:
    """Accumulates training time step by step; evaluation between steps is not counted."""

    def __init__(self, device: torch.device, target_loss: float | None = None):
        self.device = device
        self.target_loss = target_loss
        self.elapsed = 0.0
        self.step_times: list[float] = []
        self.time_to_target: float | None = None
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
        if self.target_loss is not None and self.time_to_target is None and loss <= self.target_loss:
            self.time_to_target = self.elapsed
        return seconds

    def state_dict(self) -> dict:
        return {
            "elapsed": self.elapsed,
            "step_times": list(self.step_times),
            "time_to_target": self.time_to_target,
        }

    def load_state_dict(self, state: dict) -> None:
        self.elapsed, self.step_times = state["elapsed"], list(state["step_times"])
        self.time_to_target = state["time_to_target"]

    @property
    def median_step(self) -> float | None:
        return statistics.median(self.step_times) if self.step_times else None
