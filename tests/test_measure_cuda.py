"""The CUDA-only branches of ``suite.measure.device``, without a GPU: ``torch.cuda``'s memory
functions are replaced by a recorder, so the protocol's order (reset after the model and
optimizer are built -> train -> read the peaks) is checked on a real training run."""

from __future__ import annotations

import pytest
import torch
from helpers import run_job

import suite.loop
from suite.measure import device as devmem

CUDA = torch.device("cuda")


class FakeCuda:
    """``torch.cuda``'s memory functions: every call is recorded; a peak is 1000 x steps run."""

    def __init__(self, monkeypatch):
        self.events: list[str] = []
        self.steps = 0
        for name in ("synchronize", "reset_peak_memory_stats", "max_memory_reserved", "max_memory_allocated"):
            monkeypatch.setattr(torch.cuda, name, self._recorder(name))
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Fake GPU")

    def _recorder(self, name):
        def call(device=None):
            self.events.append(name)
            if name.startswith("max_memory"):
                return 1000 * self.steps + (1 if name == "max_memory_allocated" else 0)
            return None

        return call


@pytest.fixture
def fake_cuda(monkeypatch):
    return FakeCuda(monkeypatch)


def test_reset_synchronizes_then_resets(fake_cuda):
    devmem.reset_peaks(CUDA)
    assert fake_cuda.events == ["synchronize", "reset_peak_memory_stats"]


def test_peaks_synchronize_then_read_reserved_and_allocated(fake_cuda):
    fake_cuda.steps = 3
    assert devmem.cuda_peaks(CUDA) == {"peak_reserved_bytes": 3000, "peak_allocated_bytes": 3001}
    assert fake_cuda.events == ["synchronize", "max_memory_reserved", "max_memory_allocated"]


def test_off_cuda_nothing_is_called_and_peaks_are_null(fake_cuda):
    cpu = torch.device("cpu")
    devmem.reset_peaks(cpu)
    devmem.synchronize(cpu)
    assert devmem.cuda_peaks(cpu) == {"peak_reserved_bytes": None, "peak_allocated_bytes": None}
    assert fake_cuda.events == []
    assert devmem.describe(CUDA) == "Fake GPU"


def test_training_run_resets_after_setup_and_reads_after_the_last_step(tmp_path, monkeypatch, fake_cuda):
    """A real (CPU) run whose meter calls take the CUDA branch: load peak read before the reset,
    the reset before the first step, the summary's peaks read after the last step."""
    reset, peaks = devmem.reset_peaks, devmem.cuda_peaks
    monkeypatch.setattr(devmem, "reset_peaks", lambda device: reset(CUDA))
    monkeypatch.setattr(devmem, "cuda_peaks", lambda device: peaks(CUDA))
    step = suite.loop.train_step

    def counted_step(*args, **kwargs):
        fake_cuda.events.append("step")
        out = step(*args, **kwargs)
        fake_cuda.steps += 1
        return out

    monkeypatch.setattr(suite.loop, "train_step", counted_step)
    s = run_job(tmp_path, "method=adamw", "train.max_steps=3")
    events = fake_cuda.events
    first_step, last_step = events.index("step"), len(events) - 1 - events[::-1].index("step")
    assert events.index("max_memory_reserved") < events.index("reset_peak_memory_stats") < first_step
    assert events.count("reset_peak_memory_stats") == 1
    assert "max_memory_reserved" in events[last_step:]
    assert s["load_peak_reserved_bytes"] == 0
    assert s["peak_reserved_bytes"] == 1000 * s["steps"] == 3000
    assert s["peak_allocated_bytes"] == 3001
