"""The results store writes whole files or none."""

from __future__ import annotations

import json
import os
import re

import pytest
import torch

from suite.measure.breakdown import MemoryBreakdown
from suite.track.record import MetricsRow, RunSummary, describe_fields
from suite.track.store import RunFolder, read_summaries, write_atomic
from suite.track.weights import weights_hash


def test_interrupted_write_leaves_old_file_and_no_temporary(tmp_path, monkeypatch):
    record = RunFolder(tmp_path / "run")
    record.write_summary(RunSummary(status="ok", final_train_loss=1.0))

    def crash(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        record.write_summary(RunSummary(status="ok", final_train_loss=0.5, extra={"big": "x" * 10**6}))
    monkeypatch.undo()
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["final_train_loss"] == 1.0
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["summary.json"]


def test_crash_while_writing_leaves_no_file(tmp_path, monkeypatch):
    real_fsync = os.fsync

    def crash(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError):
        write_atomic(tmp_path / "summary.json", "{}")
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert list(tmp_path.iterdir()) == []


def test_metrics_and_summaries_read_back(tmp_path):
    record = RunFolder(tmp_path / "exp" / "a")
    record.log({"train/step": 1, "train/loss": 2.0})
    record.log({"train/step": 2, "train/loss": 1.5})
    record.close_metrics()
    record.write_summary(RunSummary(method="a"))
    lines = (tmp_path / "exp" / "a" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["train/loss"] for line in lines] == [2.0, 1.5]
    (row,) = read_summaries(tmp_path)
    assert row["method"] == "a" and row["run_dir"].endswith("a")


def test_report_tables_the_summaries(tmp_path, capsys):
    from suite.report import main

    for method, total in (("adamw", 3 * 2**20), ("signsgd", 2**20)):
        RunFolder(tmp_path / method).write_summary(
            RunSummary(
                method=method,
                status="ok",
                final_train_loss=1.0,
                memory=MemoryBreakdown(params=total, grads=0, state=0, activations=0),
                step_time_median_s=0.5,
            )
        )
    main([str(tmp_path)])
    lines = capsys.readouterr().out.splitlines()
    assert "| method" in lines[0] and "total MiB" in lines[0]
    assert [line.split("|")[1].strip() for line in lines[2:]] == ["signsgd", "adamw"]
    assert "500.000" in lines[2]  # median step in ms


def test_report_on_an_empty_folder_is_one_line(tmp_path):
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "suite.report", str(tmp_path)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"suite-report: error: no summary.json below {tmp_path}"


def test_the_record_round_trips_and_keeps_unknown_keys_flat():
    memory = MemoryBreakdown(params=1, grads=2, state=3, activations=4)
    written = RunSummary(method="adamw", status="ok", memory=memory, extra={"lm_eval_acc": 0.5})
    flat = written.to_json()
    assert flat["lm_eval_acc"] == 0.5 and "extra" not in flat
    assert list(flat)[: len(RunSummary.keys())] == RunSummary.keys()
    assert flat["mem_state_bytes"] == 3 and flat["mem_total_bytes"] == 10
    assert RunSummary.from_json(flat) == written
    old = RunSummary.from_json({"method": "toy"})  # older, shorter summaries load
    assert old.memory is None and old.base_weights_hash is None


def test_a_summary_without_a_whole_breakdown_keeps_the_memory_it_has():
    """A summary written before a category existed, or by hand: no whole breakdown, so the record
    holds none, and the memory keys it has are written back as read."""
    old = {
        "method": "adamw",
        "status": "ok",
        "mem_params_bytes": 8,
        "mem_grads_bytes": 8,
        "mem_total_bytes": 16,
    }
    record = RunSummary.from_json(old)
    assert record.memory is None
    again = record.to_json()
    assert {k: again[k] for k in old} == old and again["mem_state_bytes"] is None
    by_hand = RunSummary(memory=MemoryBreakdown(params=1, grads=2, state=3, activations=4)).to_json()
    by_hand["mem_total_bytes"] = 7  # not the sum: kept as written, never recomputed
    assert RunSummary.from_json(by_hand).to_json() == by_hand


def test_the_weights_hash_tells_equal_weights_from_one_changed_bit():
    def model(seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)
        return torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Linear(4, 3, dtype=torch.bfloat16))

    a, b = model(0), model(0)
    assert weights_hash(a) == weights_hash(b) and re.fullmatch(r"[0-9a-f]{12}", weights_hash(a))
    assert weights_hash(a) != weights_hash(model(1))
    with torch.no_grad():  # the lowest mantissa bit of one bf16 weight
        b[1].weight.view(torch.int16).view(-1)[7] ^= 1
    assert weights_hash(a) != weights_hash(b)


def test_writing_a_field_the_record_does_not_declare_is_refused():
    summary = RunSummary(method="adamw")
    with pytest.raises(AttributeError, match="RunSummary has no field 'mem_buffers_bytes'"):
        summary.mem_buffers_bytes = 5  # a category the breakdown does not have
    with pytest.raises(AttributeError, match="no field 'mem_total_bytes'"):
        summary.mem_total_bytes = 5  # derived from the breakdown, never set alone
    with pytest.raises(AttributeError, match="MetricsRow has no field 'live_bytes'"):
        MetricsRow(step=1, loss=1.0).live_bytes = 5
    summary.memory = MemoryBreakdown(params=1, grads=0, state=0, activations=0)
    assert summary.to_json()["mem_total_bytes"] == 1


def test_a_metrics_row_has_its_wandb_keys_and_leaves_out_what_does_not_apply():
    row = MetricsRow(step=3, loss=1.5, grads_bytes=10).to_json()
    assert row == {"train/step": 3, "train/loss": 1.5, "mem/grads_bytes": 10}
    assert "| `train/step` | steps |" in describe_fields(MetricsRow)


def test_every_report_column_is_a_field_of_the_record():
    from suite.report import COLUMNS

    assert set(COLUMNS) <= set(RunSummary.keys())


def test_files_keep_one_mode_whether_appended_or_replaced(tmp_path):
    folder = RunFolder(tmp_path / "run")
    folder.claim(overwrite=False, resume=False)
    try:
        folder.log({"train/step": 1, "train/loss": 1.0})
        folder.log({"train/step": 2, "train/loss": 0.9})
        folder.close_metrics()
        appended = (tmp_path / "run" / "metrics.jsonl").stat().st_mode
        folder.keep_metrics_through(1)  # what a resume does: the file is replaced
        folder.write_summary(RunSummary(method="m", status="ok"))
        modes = {p.name: p.stat().st_mode for p in (tmp_path / "run").glob("*.json*")}
        assert modes == {"metrics.jsonl": appended, "summary.json": appended}
    finally:
        folder.release()
