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
from helpers import FAST, NARROW, TINY, compose_job, needs_cuda, run_job
from omegaconf import OmegaConf
from safetensors.torch import load_file

from suite import loop, train
from suite.configs import CONF_DIR

# Every method the tests' device runs: a CUDA-only one is refused on device=cpu, and its resume cell
# is that refusal (tests/test_compat.py checks its line).
METHODS = sorted(p.stem for p in (CONF_DIR / "method").glob("*.yaml") if needs_cuda(p.stem) is None)
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
    """The steps of the whole rows (a row being appended while a test polls is not yet one)."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().split("\n")[:-1]]
    return [r["train/step"] for r in rows if "train/loss" in r]


@pytest.mark.slow
@pytest.mark.compat(
    "resume",
    checks="a run killed after step 5 resumes from its step-4 checkpoint to bitwise the weights of an "
    "uninterrupted run, each step logged once",
)
@pytest.mark.parametrize("method", METHODS)
def test_a_killed_run_resumes_bitwise_for_every_method(tmp_path, monkeypatch, method):
    assert_resumes_bitwise(tmp_path, monkeypatch, method, *NARROW.get(method, []))


def assert_resumes_bitwise(tmp_path, monkeypatch, method: str, *extra: str) -> None:
    """A run of ``method`` killed after step 5 and resumed ends with the weights, steps and
    memory of an uninterrupted one."""
    overrides = [f"method={method}", *RESUMABLE, *extra]
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


def test_resume_of_a_finished_run_changes_nothing(tmp_path, caplog):
    first = run_job(tmp_path, "method=signsgd", *RESUMABLE)
    run_dir = tmp_path / "default" / "signsgd-seed0"
    files = {name: (run_dir / name).read_bytes() for name in ("summary.json", "metrics.jsonl", "config.yaml")}
    again = run_job(tmp_path, "method=signsgd", *RESUMABLE, "resume=true")
    assert again == first and first["final_train_loss"] is not None
    assert {name: (run_dir / name).read_bytes() for name in files} == files
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        f"{run_dir} already holds a finished run (status ok); resume=true leaves it as it is"
    ]


def test_a_run_killed_before_its_first_checkpoint_starts_again(tmp_path, monkeypatch, caplog):
    with monkeypatch.context() as m:
        kill_at(m, 1)
        with pytest.raises(Killed):
            run_job(tmp_path, "method=signsgd", *RESUMABLE)
    run_dir = tmp_path / "default" / "signsgd-seed0"
    assert not (run_dir / "resume.pt").exists()
    stale = run_dir / ".resume.pt.x1y2.tmp"  # what a kill during a checkpoint's write leaves
    stale.write_bytes(b"half a checkpoint")
    resumed = run_job(tmp_path, "method=signsgd", *RESUMABLE, "resume=true")
    assert resumed["status"] == "ok" and resumed["steps"] == 6
    assert steps_logged(run_dir) == list(range(1, 7)) and not stale.exists()
    assert f"{run_dir} has no checkpoint (status running): resume=true starts the run again from step 0" in [
        r.getMessage() for r in caplog.records
    ]


def test_a_store_moved_elsewhere_resumes(tmp_path, monkeypatch):
    with monkeypatch.context() as m:
        kill_at(m, 3)
        with pytest.raises(Killed):
            run_job(tmp_path / "here", "method=signsgd", *RESUMABLE)
    (tmp_path / "here").rename(tmp_path / "there")
    resumed = run_job(tmp_path / "there", "method=signsgd", *RESUMABLE, "resume=true")
    assert resumed["status"] == "ok" and resumed["steps"] == 6
    assert steps_logged(tmp_path / "there" / "default" / "signsgd-seed0") == list(range(1, 7))


def test_a_run_recorded_with_other_traits_resumes_but_not_with_other_settings(tmp_path, monkeypatch):
    """Traits describe how the suite runs a method (a newer suite may declare them differently);
    they are not a setting of the run, so they do not block resume, while a setting does."""
    run_dir = killed_at_step_3(tmp_path, monkeypatch)
    config = OmegaConf.load(run_dir / "config.yaml")
    config.method.traits.label = "an older label"
    OmegaConf.save(config, run_dir / "config.yaml")
    with pytest.raises(train.ConfigError, match="method.lr=.* differs from the run"):
        run_job(tmp_path, "method=signsgd", *RESUMABLE, "resume=true", "method.lr=0.5")
    resumed = run_job(tmp_path, "method=signsgd", *RESUMABLE, "resume=true")
    assert resumed["status"] == "ok" and resumed["steps"] == 6


class Payload:
    """A pickle that creates ``marker`` when it is loaded: what a planted checkpoint could run."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def killed_at_step_3(tmp_path, monkeypatch) -> Path:
    with monkeypatch.context() as m:
        kill_at(m, 3)
        with pytest.raises(Killed):
            run_job(tmp_path, "method=signsgd", *RESUMABLE)
    return tmp_path / "default" / "signsgd-seed0"


def test_a_planted_pickle_is_refused_and_never_runs(tmp_path, monkeypatch):
    run_dir = killed_at_step_3(tmp_path, monkeypatch)
    marker = tmp_path / "payload-ran"
    torch.save({"step": 2, "model": Payload(marker)}, run_dir / "resume.pt")
    summary = (run_dir / "summary.json").read_bytes()
    with pytest.raises(
        train.ConfigError, match=r"resume.pt holds (io|builtins).open, not only tensors"
    ) as err:
        run_job(tmp_path, "method=signsgd", *RESUMABLE, "resume=true")
    assert len(str(err.value).splitlines()) == 1
    assert not marker.exists() and (run_dir / "summary.json").read_bytes() == summary


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_damaged_checkpoint_is_refused_naming_it(tmp_path, monkeypatch, damage):
    run_dir = killed_at_step_3(tmp_path, monkeypatch)
    path = run_dir / "resume.pt"
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2] if damage == "truncated" else b"not a checkpoint\n" * 64)
    with pytest.raises(train.ConfigError, match=f"{path} is truncated or not a checkpoint"):
        run_job(tmp_path, "method=signsgd", *RESUMABLE, "resume=true")


def signal_before(monkeypatch, module, name: str, signum=signal.SIGTERM) -> None:
    """Send this process ``signum`` (a real signal, caught by the run's handler) as ``name`` starts."""
    real = getattr(module, name)

    def signalled(*args, **kwargs):
        os.kill(os.getpid(), signum)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, signalled)


def test_sigterm_during_evaluation_ends_the_run_interrupted(tmp_path, monkeypatch):
    signal_before(monkeypatch, loop, "exact_match_accuracy")
    summary = run_job(tmp_path, "method=signsgd", "train.max_steps=4")
    assert summary["status"] == "interrupted" and summary["error"].startswith("SIGTERM after step 4")
    assert summary["eval_exact_match"] is None  # no partial score
    rows = [json.loads(line) for line in (tmp_path / "default" / "signsgd-seed0" / "metrics.jsonl").open()]
    assert not any("eval/exact_match" in r for r in rows)


def test_sigint_during_a_checkpoints_write_ends_the_run_interrupted(tmp_path, monkeypatch):
    from suite.track import checkpoint

    with monkeypatch.context() as m:
        signal_before(m, checkpoint, "save", signal.SIGINT)
        summary = run_job(tmp_path, "method=signsgd", *RESUMABLE)
    assert summary["status"] == "interrupted" and summary["error"] == "SIGINT at step 2"
    assert steps_logged(tmp_path / "default" / "signsgd-seed0") == [1, 2]
    resumed = run_job(tmp_path, "method=signsgd", *RESUMABLE, "resume=true")  # the checkpoint is whole
    assert resumed["status"] == "ok" and resumed["steps"] == 6


def _torchrun(tmp_path, *overrides: str) -> subprocess.Popen:
    """Two gloo ranks on their own shards, one thread each."""
    args = [*TINY, *FAST, f"results_dir={tmp_path}", "distributed.shard_data=true", *overrides]
    return subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone"]
        + [str(Path(sys.executable).with_name("suite-train")), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"OMP_NUM_THREADS": "1"},
    )


def _kill_all(pid: int) -> None:
    """SIGKILL to a launcher and every process under it, as a node's preemption does (torchrun
    starts each rank in its own session, so a process group would miss them)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for child in children:
        _kill_all(int(child))
    os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.parametrize(("method", "strategy"), [("adamw", "ddp"), ("stosignsgd", "ddp"), ("adamw", "fsdp")])
def test_two_ranks_killed_with_sigkill_resume_bitwise(tmp_path, method, strategy):
    """Both ranks and their launcher killed at once, then ``resume=true`` on two ranks: the run
    ends bitwise where an uninterrupted two-rank run ends. AdamW's ranks share their optimizer
    state (DDP) or each hold a shard of the weights and state, checkpointed with torch's
    distributed checkpoint (FSDP); StoSignSGD's keep their own momentum, running max and noise,
    and each its own data shard, RNGs and data position."""
    overrides = [f"method={method}", "train.max_steps=60", "train.checkpoint_every=5", "eval.n_examples=0"]
    overrides += ["save_checkpoint=true", f"distributed.strategy={strategy}"]
    run_dir = tmp_path / "pieces" / "default" / f"{method}-seed0"
    proc = _torchrun(tmp_path / "pieces", *overrides)
    _wait_for(lambda: (run_dir / "resume.pt").exists() and len(steps_logged(run_dir)) >= 15, proc)
    _kill_all(proc.pid)
    proc.wait()
    assert 15 <= len(steps_logged(run_dir)) < 60
    assert len(list(run_dir.glob("resume-rank1-step*.pt"))) in (1, 2)  # committed (and one being written)
    if strategy == "fsdp":  # the committed step's shards (and one being written or renamed)
        assert len(list(run_dir.glob("resume-shards-step*"))) in (1, 2)
    resumed = _torchrun(tmp_path / "pieces", *overrides, "resume=true")
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()
    assert steps_logged(run_dir) == list(range(1, 61))
    whole = _torchrun(tmp_path / "whole", *overrides)
    assert whole.wait(timeout=600) == 0, whole.stderr.read()
    expected, got = weights(tmp_path / "whole" / "default" / f"{method}-seed0"), weights(run_dir)
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.equal(expected[name], got[name]), f"{method}: {name} differs after SIGKILL and resume"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["world_size"] == 2
    assert summary["distributed"] == "fsdp" or summary["ranks_weights_agree"]
    assert [p.name for p in run_dir.glob("resume-shards-step*")] == (
        ["resume-shards-step60"] if strategy == "fsdp" else []
    )
