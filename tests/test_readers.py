"""Readers that check: an unreadable summary is named and skipped, never a crash or a NaN row."""

from __future__ import annotations

import json
import logging
import math
import shutil
from pathlib import Path

import pytest

from suite.report import main as report
from suite.track.record import RunSummary
from suite.track.store import RunFolder, dumps, read_summaries, scan_summaries


def test_a_truncated_and_an_empty_summary_are_named_and_skipped(tmp_path, caplog, capsys):
    RunFolder(tmp_path / "good").write_summary(RunSummary(method="adamw", status="ok", seed=0))
    (tmp_path / "torn").mkdir()
    (tmp_path / "torn" / "summary.json").write_text('{"method": "adamw", "sta')
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "summary.json").write_text("{}")
    rows, skipped = scan_summaries(tmp_path)
    assert [r["run_dir"] for r in rows] == [str(tmp_path / "good")]
    assert {p.parent.name for p, _ in skipped} == {"torn", "empty"}
    with caplog.at_level(logging.WARNING, logger="suite.track.store"):
        assert len(read_summaries(tmp_path)) == 1
    assert any(str(tmp_path / "torn" / "summary.json") in r.getMessage() for r in caplog.records)
    report([str(tmp_path)])
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and out[2].startswith("| adamw")  # the one readable run, nothing else


def test_a_summary_with_a_wrongly_typed_field_is_named_and_skipped(tmp_path, caplog, capsys):
    good = RunSummary(method="adamw", status="ok", seed=0, final_train_loss=0.5)
    RunFolder(tmp_path / "good").write_summary(good)
    for name, wrong in (("loss", {"final_train_loss": "0.5 (about)"}), ("memory", {"mem_total_bytes": "1M"})):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(json.dumps(good.to_json() | wrong))
    rows, skipped = scan_summaries(tmp_path)
    assert [r["run_dir"] for r in rows] == [str(tmp_path / "good")]
    assert [(p.parent.name, why) for p, why in skipped] == [
        ("loss", "final_train_loss='0.5 (about)' is not a number"),
        ("memory", "mem_total_bytes='1M' is not a number"),
    ]
    with caplog.at_level(logging.WARNING, logger="suite.track.store"):
        report([str(tmp_path)])
    assert any(str(tmp_path / "loss" / "summary.json") in r.getMessage() for r in caplog.records)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and out[2].startswith("| adamw")


def test_non_finite_numbers_are_written_as_strict_json_null_with_the_reason():
    text = dumps({"train/step": 3, "train/loss": math.nan, "lr": math.inf})
    assert json.loads(text) == {
        "train/step": 3,
        "train/loss": None,
        "lr": None,
        "nonfinite": {"train/loss": "nan", "lr": "inf"},
    }
    assert "NaN" not in text and "Infinity" not in text


def _artefacts_with_runs():
    from suite import papers

    return [
        n
        for n in sorted(papers.ARTEFACTS)
        if (RESULTS / n).is_dir() and any((RESULTS / n).glob("*/summary.json"))
    ]


RESULTS = Path(__file__).resolve().parents[1] / "results"


@pytest.mark.parametrize("name", _artefacts_with_runs())
def test_every_notebook_names_a_torn_summary_and_marks_a_missing_seed(tmp_path, caplog, name):
    from suite import papers

    folder = tmp_path / name
    shutil.copytree(RESULTS / name, folder)
    torn = folder / "torn-seed9" / "summary.json"
    torn.parent.mkdir()
    torn.write_text('{"method": "adamw", "status": "o')
    second = sorted(folder.glob("*-seed1"))
    if second:
        shutil.rmtree(second[0])  # one arm loses a seed
    with caplog.at_level(logging.WARNING):
        papers.build(name, tmp_path)
    assert any(str(torn) in r.getMessage() for r in caplog.records)
    lines = [line for line in (folder / "table.md").read_text().splitlines() if line.startswith("|")]
    header, rows = lines[0], lines[2:]
    if second and " seeds " in header:
        assert any(" of " in row for row in rows)  # the short row is marked, e.g. "1 of 2"
