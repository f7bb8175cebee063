"""Runs that survive: a run killed mid-way and resumed ends bitwise where an uninterrupted run
ends, with every step in its metrics exactly once; SIGTERM ends a run cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import FAST, TINY, compose_job, run_job
from safetensors.torch import load_file

from suite import loop, train
from suite.configs import CONF_DIR

METHODS = sorted(p.stem for p in (CONF_DIR / "method").glob("*.yaml"))
# TINY's narrowest projection (k_proj) is 16 wide; the YAMLs' rank 32 is refused on it
NARROW = {m: ["method.rank=8"] for m in ("galore", "galore_layerwise", "apollo")}
RESUMABLE = ["train.max_steps=6", "train.checkpoint_every=2", "eval.n_examples=0", "save_checkpoint=true"]


class Killed(BaseException):
    """Stands in for SIGKILL: raised inside the loop, and the run writes nothing afterwards."""


def kill_at(monkeypatch, at_step: int) -> None:
    """Make the next run die at ``at_step`` after logging it, leaving its files as SIGKILL would
    (the process's lock goes with it; no summary is written)."""
    real_one_step = loop.one_step

    def one_step(job, progress, step, micro_batches):
        loss = real_one_step(job, progress, step, micro_batches)
        if step == at_step:
            raise Killed
        return loss

    def finish(folder, summary, tracker):
        folder.release()

    monkeypatch.setattr(loop, "one_step", one_step)
    monkeypatch.setattr(train, "finish", finish)


def weights(run_dir):
    return load_file(run_dir / "checkpoint" / "model.safetensors")


def steps_logged(run_dir) -> list[int]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["train/step"] for r in rows if "train/loss" in r]


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_a_killed_run_resumes_bitwise_for_every_method(tmp_path, monkeypatch, method):
    overrides = [f"method={method}", *RESUMABLE, *NARROW.get(method, [])]
    whole = run_job(tmp_path / "whole", *overrides)
    assert whole["status"] == "ok"
    with monkeypatch.context() as m:
        kill_at(m, 5)  # the last checkpoint is step 4's; row 5 is in the metrics
        with pytest.raises(Killed):
            run_job(tmp_path / "pieces", *overrides)
    run_dir = tmp_path / "pieces" / "default" / f"{method}-seed0"
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "running"
    resumed = run_job(tmp_path / "pieces", *overrides, "resume=true")
    assert resumed["status"] == "ok" and resumed["steps"] == 6
    assert steps_logged(run_dir) == list(range(1, 7))
    expected, got = weights(tmp_path / "whole" / "default" / f"{method}-seed0"), weights(run_dir)
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.equal(expected[name], got[name]), f"{method}: {name} differs after resume"
    assert resumed["wall_clock_s"] > 0 and resumed["mem_total_bytes"] == whole["mem_total_bytes"]


def test_resume_refuses_a_changed_config(tmp_path, monkeypatch):
    with monkeypatch.context() as m:
        kill_at(m, 3)
        with pytest.raises(Killed):
            run_job(tmp_path, "method=signsgd", *RESUMABLE)
    with pytest.raises(train.ConfigError, match=r"resume=true but method.lr=0.5 differs"):
        run_job(tmp_path, "method=signsgd", *RESUMABLE, "resume=true", "method.lr=0.5")


def _child(tmp_path, *overrides: str) -> subprocess.Popen:
    args = [*TINY, *FAST, f"results_dir={tmp_path}", *overrides]
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("suite-train")), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"OMP_NUM_THREADS": "1"},
    )


def _wait_for(predicate, proc, timeout=240.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "the run did not get there in time"
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_sigkill_from_outside_then_resume_for_every_method(tmp_path, method):
    overrides = [f"method={method}", "train.max_steps=200", "train.checkpoint_every=10", "eval.n_examples=0"]
    overrides += ["save_checkpoint=true", *NARROW.get(method, [])]
    run_dir = tmp_path / "default" / f"{method}-seed0"
    proc = _child(tmp_path, *overrides)
    _wait_for(lambda: (run_dir / "resume.pt").exists() and len(steps_logged(run_dir)) >= 30, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 30 <= len(steps_logged(run_dir)) < 200
    resumed = _child(tmp_path, *overrides, "resume=true")
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()
    assert steps_logged(run_dir) == list(range(1, 201))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the children (OMP_NUM_THREADS=1): the same kernels, the same bits
    try:
        run_job(tmp_path / "whole", *overrides)
    finally:
        torch.set_num_threads(threads)
    expected, got = weights(tmp_path / "whole" / "default" / f"{method}-seed0"), weights(run_dir)
    for name in expected:
        assert torch.equal(expected[name], got[name]), f"{method}: {name} differs after SIGKILL and resume"


@pytest.mark.slow
def test_sigterm_ends_the_run_as_interrupted_with_its_metrics(tmp_path):
    run_dir = tmp_path / "default" / "adamw-seed0"
    proc = _child(tmp_path, "train.max_steps=400", "train.checkpoint_every=50")
    _wait_for(lambda: (run_dir / "metrics.jsonl").exists() and len(steps_logged(run_dir)) >= 3, proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) != 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted" and 3 <= summary["steps"] < 400
    assert steps_logged(run_dir) == list(range(1, summary["steps"] + 1))
    assert (run_dir / "resume.pt").exists()  # the final checkpoint, since checkpointing is on


def test_a_finished_run_is_not_replaced_unless_asked(tmp_path):
    first = run_job(tmp_path, "method=signsgd", "train.max_steps=2")
    with pytest.raises(train.ConfigError, match="already holds a run \\(status ok\\); pass overwrite=true"):
        run_job(tmp_path, "method=signsgd", "train.max_steps=3")
    second = run_job(tmp_path, "method=signsgd", "train.max_steps=3", "overwrite=true")
    assert (first["steps"], second["steps"]) == (2, 3)
    assert steps_logged(tmp_path / "default" / "signsgd-seed0") == [1, 2, 3]


def test_a_folder_in_use_is_refused(tmp_path):
    from suite.track.store import RunFolder

    holder = RunFolder(train.run_folder(compose_job("method=signsgd", results_dir=tmp_path)))
    holder.claim(overwrite=False, resume=False)
    try:
        with pytest.raises(train.ConfigError, match="is in use by another run"):
            run_job(tmp_path, "method=signsgd")
    finally:
        holder.release()
