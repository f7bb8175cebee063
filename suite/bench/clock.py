"""Timing for the benchmarks: wall-clock on CPU, CUDA events on a GPU, cases interleaved.

On CUDA each timed call is bracketed by two ``torch.cuda.Event(enable_timing=True)`` recorded on
the current stream and read after ``torch.cuda.synchronize()``, so the time is the GPU's, not the
launch queue's; the first rounds are warm-up and are not kept.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

WARMUP_ROUNDS = 3
Case = tuple[Callable[[], None], Callable[[], None]]


class Clock:
    """Seconds one call takes on ``device``: ``perf_counter`` on CPU, CUDA events on CUDA."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.events = device.type == "cuda"

    def time(self, fn: Callable[[], None]) -> float:
        """Run ``fn`` once and return its seconds (on CUDA: between two events, after a sync)."""
        if not self.events:
            start = time.perf_counter()
            fn()
            return time.perf_counter() - start
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        return begin.elapsed_time(end) / 1e3

    def round_robin(
        self,
        cases: dict[str, Case],
        iters: int,
        stat: Callable[[list[float]], float] = statistics.median,
    ) -> dict[str, float]:
        """``stat`` (median) of the seconds of each case's ``fn`` (after its untimed ``before``),
        the cases interleaved in every round so that load from other processes hits all alike;
        the first :data:`WARMUP_ROUNDS` rounds are not kept."""
        times: dict[str, list[float]] = {name: [] for name in cases}
        for i in range(iters + WARMUP_ROUNDS):
            for name, (fn, before) in cases.items():
                before()
                if self.events:
                    torch.cuda.synchronize()
                seconds = self.time(fn)
                if i >= WARMUP_ROUNDS:
                    times[name].append(seconds)
        return {name: stat(ts) for name, ts in times.items()}
