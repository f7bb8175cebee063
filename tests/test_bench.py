"""``suite-bench optim`` and ``suite-bench meter`` run in-process at tiny sizes and print every row.

Smoke tests: they check the tables' rows and that every time is a positive number, not the times.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from suite.bench import clock, meter, optim, report
from suite.bench.cli import main
from suite.models import byte_tokenizer, tiny_qwen3


def tables(out: str) -> list[list[list[str]]]:
    """The Markdown tables of ``out``: per table, its body rows as lists of cells."""
    found, rows = [], None
    for line in out.splitlines():
        if line.startswith("|") and rows is None:
            rows = []  # the header; its separator row follows
        elif line.startswith("|") and not set(line) <= set("|-: "):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
        elif not line.startswith("|") and rows is not None:
            found.append(rows)
            rows = None
    return found + ([rows] if rows is not None else [])


def assert_positive_numbers(rows: list[list[str]]) -> None:
    for row in rows:
        for cell in row[1:]:
            value = float(cell)
            assert math.isfinite(value) and value > 0, row


TINY = ["--iters", "1", "--step-hidden", "16", "--hidden", "16", "--layers", "2", "--threads", "1"]


@pytest.mark.slow
def test_optim_prints_every_optimizer_training_step_depth_and_goals(capsys, tmp_path):
    main(["optim", *TINY, "--depths", "2,3", "--out", str(tmp_path)])
    steps, training, depth, goals = tables(capsys.readouterr().out)
    params = list(tiny_qwen3(byte_tokenizer(), hidden_size=16, num_layers=2).parameters())
    assert [r[0] for r in steps] == [
        "floor: torch._foreach_add_ (all params)",
        *optim.step_optimizers(params),
        "floor: torch._foreach_add_ (one block)",
        "ABSignSGD (one block)",
    ]
    assert len(steps) == 16 and all(len(r) == 4 for r in steps)
    assert [r[0] for r in training][:2] == ["AdamW (torch, foreach)", "SignSGD"]
    assert [r[0] for r in training][-2:] == [optim.FORWARD, report.PROBE] and len(training) == 8
    assert training[0][2] == "1.00"
    assert [r[0] for r in depth] == ["2", "3"]
    for rows in (steps, training, depth):
        assert_positive_numbers(rows)
    assert [r[0] for r in goals] == [g[0] for g in report.GOALS]
    assert [r[1] for r in goals][-2:] == ["not measured"] * 2  # no 16- or 36-layer row
    assert all(r[2] in ("yes", "**no**") for r in goals[:-2])
    data = json.loads((tmp_path / "optim.json").read_text())
    assert data["machine"]["threads"] == 1 and data["machine"]["device"] == "cpu"
    assert [r["optimizer step"] for r in data["tables"]["step"]] == [r[0] for r in steps]
    assert (tmp_path / "goals.md").read_text().count("\n") == len(goals) + 2
    assert "| ABSignSGD (one block) |" in (tmp_path / "optim.md").read_text()
    summary = (tmp_path / "summary.md").read_text()
    assert summary.count("\n") == 1 and "Not measured: ABSignSGD training step" in summary


def test_optim_only_times_the_named_rows_beside_the_floor(capsys):
    main(["optim", *TINY, "--only", "ALIAS"])
    (steps,) = tables(capsys.readouterr().out)
    assert [r[0] for r in steps] == [
        "floor: torch._foreach_add_ (all params)",
        "ALIAS full memory",
        "ALIAS full memory, float64 statistics",
        "ALIAS sign-only memory",
    ]
    assert_positive_numbers(steps)
    with pytest.raises(SystemExit, match="--only"):
        main(["optim", *TINY, "--only", "ALIAS", "--out", "somewhere"])


@pytest.mark.slow
def test_optim_without_depths_prints_three_tables(capsys):
    main(["optim", *TINY, "--depths", ""])
    assert len(tables(capsys.readouterr().out)) == 3


def test_goals_read_the_measured_rows():
    step = report.Table(["optimizer step", "median ms", "× floor", "× own floor"])
    step.add("AdamW (torch, foreach)", 10.0, 5.0, 2.0)
    step.add("SignSGD per-tensor (CPU default)", 1.0, 1.4, 1.4)
    step.add("SignSGD foreach (CUDA default)", 1.0, 1.6, 1.6)
    step.add("SQ-MEFT 4-bit (as step(), not in backward)", 12.0, 60.0, 30.0)
    for device, met in (("cpu", "yes"), ("cuda", "**no**")):
        goals = report.goals_table({"step": step}, 18_100_000, device)
        assert goals.columns[0] == "goal (step table at 18.1M parameters)"
        assert goals.rows[0][1:] == ["1.40×" if device == "cpu" else "1.60×", met]
        assert goals.value("SQ-MEFT step ≤ AdamW step", 1) == "1.20×"
        assert goals.value("ALIAS step ≤ 2× its own floor", 1) == "not measured"
        line = report.goals_summary(goals)
        assert ("**Met:** SignSGD step ≤ 1.5× its own floor (1.40×)." in line) == (device == "cpu")
        assert "**Not met:** " in line and "SQ-MEFT step ≤ AdamW step (1.20×)" in line


class FakeEvent:
    """Stands in for ``torch.cuda.Event``: ``record()`` reads a fake GPU clock (ms)."""

    log: list[str] = []
    now_ms = 0.0

    def __init__(self, enable_timing: bool = False) -> None:
        assert enable_timing
        self.at = None

    def record(self) -> None:
        FakeEvent.log.append("record")
        self.at = FakeEvent.now_ms

    def elapsed_time(self, end: FakeEvent) -> float:
        assert FakeEvent.log[-1] == "synchronize"  # read only after the sync
        return end.at - self.at


def test_cuda_clock_times_with_events_after_warm_up(monkeypatch):
    FakeEvent.log, FakeEvent.now_ms = [], 0.0
    monkeypatch.setattr(torch.cuda, "Event", FakeEvent)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: FakeEvent.log.append("synchronize"))
    calls = []

    def kernel() -> None:  # 2.5 ms of "GPU time" on the first calls, 1 ms afterwards
        calls.append(len(calls))
        FakeEvent.log.append("kernel")
        FakeEvent.now_ms += 2.5 if len(calls) <= clock.WARMUP_ROUNDS else 1.0

    timer = clock.Clock(torch.device("cuda"))
    assert timer.events
    med = timer.round_robin({"k": (kernel, lambda: None)}, iters=4)
    assert med == {"k": pytest.approx(1e-3)}  # the warm-up rounds are dropped
    assert len(calls) == 4 + clock.WARMUP_ROUNDS
    assert FakeEvent.log[:5] == ["synchronize", "record", "kernel", "record", "synchronize"]


def test_cpu_clock_uses_wall_clock():
    timer = clock.Clock(torch.device("cpu"))
    assert not timer.events and timer.time(lambda: None) >= 0.0


def test_meter_prints_a_row_per_method(capsys):
    main(["meter", "--iters", "1", "--batch", "2", "--seq", "16"])
    (rows,) = tables(capsys.readouterr().out)
    assert [r[0] for r in rows] == ["adamw", "signsgd (in backward)"] == list(meter.CASES)
    assert_positive_numbers(rows)


def test_meter_builds_from_the_yaml_with_changes():
    model = tiny_qwen3(byte_tokenizer(), hidden_size=16, num_layers=2)
    method = meter.build_from_yaml("signsgd", model, lr=1e-9, fused_backward=True)
    assert method.updates_in_backward and method.optimizer.param_groups[0]["lr"] == 1e-9
    assert isinstance(method.optimizer, torch.optim.Optimizer)


def test_meter_refuses_a_key_the_yaml_lacks():
    model = tiny_qwen3(byte_tokenizer(), hidden_size=16, num_layers=2)
    with pytest.raises(ValueError, match="adamw.yaml has no key momentum"):
        meter.build_from_yaml("adamw", model, momentum=0.9)


def test_unknown_benchmark_is_refused(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["nosuch"])
    assert stop.value.code == 2
    assert "invalid choice: 'nosuch'" in capsys.readouterr().err
