"""The audit of one step against the allocator (``suite.measure.audit``): the categories live at
the step's peak plus ``other`` make up the peak, ``other`` is never negative, for every method;
the CUDA branch with ``torch.cuda``'s memory functions substituted."""

from __future__ import annotations

import json
import runpy
import shutil
from pathlib import Path

import pytest
import torch
from helpers import NARROW, on_cpu, run_job
from torch import nn

from suite.configs import CONF_DIR
from suite.loop import train_step
from suite.measure.audit import StepRecorder
from suite.measure.breakdown import PHASES, MemoryBreakdown, StepAudit
from suite.measure.memory import MemoryMeter
from suite.measure.timeline import JSON, PNG

# Every method; two run with the fast tests (a case takes about half a second).
FAST_METHODS = ("adamw", "lomo")
METHODS = [
    on_cpu(m, *(() if m in FAST_METHODS else (pytest.mark.slow,)))
    for m in sorted(p.stem for p in (CONF_DIR / "method").glob("*.yaml"))
]
# TINY's narrowest projection (k_proj) is 16 wide; the YAMLs' rank 32 is refused on it
AUDITED = ["train.max_steps=2", "eval.n_examples=0", "memory.audit_step=2"]
CATEGORIES = [f.name for f in MemoryBreakdown.categories()]
REPO = Path(__file__).resolve().parents[1]


class Model(nn.Module):
    """A two-layer model with a loss, the shape of an HF causal LM's call: ``model(**batch).loss``."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(64, 256), nn.Tanh(), nn.Linear(256, 8))
        self.register_buffer("scale", torch.ones(8))

    def forward(self, x, y):
        return type("Out", (), {"loss": nn.functional.cross_entropy(self.net(x) * self.scale, y)})


class Method:
    """The parts of :class:`suite.methods.Method` that ``train_step`` uses."""

    def __init__(self, model, optimizer):
        self.model, self.optimizer = model, optimizer
        self.on_step_loss, self.updates_in_backward, self.micro_batch = None, False, None

    def backward(self, loss):
        loss.backward()


CPU = torch.device("cpu")


def audited(device: torch.device = CPU) -> tuple[StepAudit, MemoryMeter, StepRecorder]:
    torch.manual_seed(0)
    model = Model()
    meter = MemoryMeter(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    meter.track(opt)
    method = Method(model, opt)
    batch = [{"x": torch.randn(128, 64), "y": torch.randint(0, 8, (128,))}]
    train_step(method, batch, meter, torch.autocast("cpu", enabled=False), None, None)  # makes the state
    meter.after_step()
    recorder = StepRecorder(meter, device, step=2)
    with recorder.recording(batch) as phase:
        train_step(method, batch, meter, torch.autocast("cpu", enabled=False), None, None, phase=phase)
    return recorder.audit(), meter, recorder


def at_peak(audit: StepAudit) -> int:
    return sum(getattr(audit, name) for name in StepAudit.at_peak())


def test_the_audit_has_one_field_per_category():
    """A category added to the breakdown must be counted at the peak too (else it would be ``other``)."""
    assert list(StepAudit.at_peak()) == CATEGORIES
    assert set(CATEGORIES) <= {f.name for f in StepAudit.__dataclass_fields__.values()}


def test_categories_at_the_peak_and_other_make_up_the_peak_on_a_small_model():
    audit, meter, _ = audited()
    weights = 4 * (64 * 256 + 256 + 256 * 8 + 8)
    assert audit.params == weights  # every parameter is live throughout
    assert audit.state == weights  # SGD's momentum: one buffer per parameter, made in the first step
    assert audit.phase in PHASES
    assert audit.other >= 0
    assert at_peak(audit) + audit.other == audit.peak and audit.other >= 0
    # the peak holds the forward's saved tensors or the gradients, never more than the meter's peaks
    assert 0 < audit.activations + audit.grads
    assert audit.activations <= meter.peak_activations and audit.grads <= meter.peak_grads
    # other holds at least the batch and the buffer (live from the step's start)
    assert audit.other >= 4 * 128 * 64 + 8 * 128 + 4 * 8


def test_the_timeline_starts_at_the_steps_live_bytes_and_reaches_the_peak():
    audit, meter, recorder = audited()
    timeline = recorder.timeline()
    assert set(timeline.bytes) == {*CATEGORIES, "other"}
    assert [timeline.bytes[k][0] for k in CATEGORIES] == [audit.params, 0, audit.state, 0]
    assert max(timeline.total(i) for i in range(len(timeline.t_ms))) == audit.peak
    assert timeline.t_ms == sorted(timeline.t_ms)
    assert [name for name, _, _ in timeline.phases] == ["forward", "backward", "step"]
    assert min(min(series) for series in timeline.bytes.values()) >= 0


class FakeCuda:
    """``torch.cuda``'s memory functions: every call is recorded, each answers a fixed figure."""

    def __init__(self, monkeypatch):
        self.calls: list[str] = []
        for name in ("synchronize", "reset_peak_memory_stats"):
            monkeypatch.setattr(torch.cuda, name, self.record(name, None))
        monkeypatch.setattr(torch.cuda, "memory_allocated", self.record("memory_allocated", 10**6))
        monkeypatch.setattr(torch.cuda, "max_memory_allocated", self.record("max_memory_allocated", 10**7))
        monkeypatch.setattr(torch.cuda, "max_memory_reserved", self.record("max_memory_reserved", 2 * 10**7))
        stats = {"active_bytes.all.peak": 10**7 + 512}
        monkeypatch.setattr(torch.cuda, "memory_stats", self.record("memory_stats", stats))
        monkeypatch.setattr(torch.cuda, "device_memory_used", self.record("device_memory_used", 3 * 10**7))

    def record(self, name, value):
        def call(device=None):
            self.calls.append(name)
            return value

        return call


def test_on_cuda_the_peak_is_the_allocators_and_the_driver_reading_is_kept(monkeypatch):
    fake = FakeCuda(monkeypatch)
    audit, meter, _ = audited(torch.device("cuda"))
    assert fake.calls.index("reset_peak_memory_stats") < fake.calls.index("memory_allocated")
    assert fake.calls[-4:] == [
        "max_memory_allocated",
        "memory_stats",
        "max_memory_reserved",
        "device_memory_used",
    ]
    assert audit.peak == 10**7 and audit.source == "torch.cuda.max_memory_allocated"
    assert (audit.cuda_active, audit.cuda_reserved, audit.driver_used) == (10**7 + 512, 2 * 10**7, 3 * 10**7)
    assert at_peak(audit) + audit.other == audit.peak and audit.other >= 0


@pytest.mark.parametrize(
    "chunks", [None, pytest.param(4, marks=pytest.mark.slow)], ids=["plain-loss", "loss_chunks=4"]
)
@pytest.mark.parametrize("method", METHODS)
def test_every_method_categories_at_the_peak_plus_other_is_the_allocator_peak(tmp_path, method, chunks):
    chunked = [f"train.loss_chunks={chunks}"] if chunks else []
    s = run_job(tmp_path, f"method={method}", *AUDITED, *NARROW.get(method, []), *chunked)
    assert s["status"] == "ok"
    audit = StepAudit.from_json(s)
    assert audit.step == 2 and audit.phase in PHASES
    assert audit.other >= 0
    assert at_peak(audit) + audit.other == pytest.approx(audit.peak, rel=0.02)
    assert audit.params == s["mem_params_bytes"]
    for name in ("grads", "state", "activations"):  # live at one moment: at most the run's peak
        assert getattr(audit, name) <= s[f"mem_{name}_bytes"], name
    assert audit.activations > 0  # the peak falls while the forward's tensors are held


def test_memory_timeline_writes_the_steps_data_and_figure(tmp_path):
    s = run_job(tmp_path, "method=lomo", *AUDITED, "memory.timeline=true")
    folder = tmp_path / "default" / "lomo-seed0"
    data = json.loads((folder / JSON).read_text())
    assert data["audit"]["mem_other_bytes"] == s["mem_other_bytes"]
    assert set(data["bytes"]) == {*CATEGORIES, "other"}
    assert (folder / PNG).stat().st_size > 10_000


def test_the_committed_timeline_table_is_what_its_script_builds(tmp_path):
    """``results/memory_timeline/table.md`` rebuilt from the committed runs by its script."""
    script = runpy.run_path(str(REPO / "experiments" / "memory_timeline.py"))
    committed = REPO / "results" / "memory_timeline"
    for method in script["METHODS"]:
        shutil.copytree(committed / f"{method}-seed0", tmp_path / f"{method}-seed0")
    script["redraw"](tmp_path)
    assert (tmp_path / "table.md").read_text() == (committed / "table.md").read_text()
    assert (tmp_path / "figure.png").stat().st_size > 50_000
