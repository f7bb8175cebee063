"""One owner per run folder, and sweeps that outlive their failed jobs, through the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import FAST, TINY

from suite.track.store import read_metrics

CLI = str(Path(sys.executable).with_name("suite-train"))


def cli(tmp_path, *overrides: str, wait: bool = True):
    flags = [o for o in overrides if o.startswith("-")]  # Hydra takes its flags first
    args = [CLI, *flags, *TINY, *FAST, f"results_dir={tmp_path}", *(o for o in overrides if o not in flags)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc.communicate(timeout=600) + (proc.returncode,) if wait else proc


@pytest.mark.slow
def test_concurrent_jobs_with_one_run_name_never_mix_their_files(tmp_path):
    lrs = ("0.001", "0.002", "0.003")
    procs = [
        cli(tmp_path, "method=signsgd", f"method.lr={lr}", "train.max_steps=30", wait=False) for lr in lrs
    ]
    outcomes = [p.communicate(timeout=600) + (p.returncode,) for p in procs]
    winners = [i for i, (_, _, rc) in enumerate(outcomes) if rc == 0]
    assert len(winners) == 1, [o[1] for o in outcomes]
    for i, (_, err, rc) in enumerate(outcomes):
        if i != winners[0]:
            lines = err.strip().splitlines()
            assert rc == 2 and len(lines) == 1, err
            assert "is in use by another run" in lines[0] or "already holds a run (status ok)" in lines[0]
    folder = tmp_path / "default" / "signsgd-seed0"
    config = (folder / "config.yaml").read_text()
    assert f"lr: {lrs[winners[0]]}" in config
    peak_lr = max(row["train/lr"] for row in read_metrics(folder) if "train/lr" in row)
    assert 0.99 < peak_lr / float(lrs[winners[0]]) <= 1  # the winner's metrics, nobody else's
    summary = (folder / "summary.json").read_bytes()
    _, err, rc = cli(tmp_path, "method=signsgd", f"method.lr={lrs[winners[0]]}", "train.max_steps=30")
    assert rc == 2 and err.strip().splitlines() == [
        f"suite-train: error: {folder} already holds a run (status ok); pass overwrite=true to replace it, "
        "resume=true to continue it, or choose another run_name"
    ]
    assert (folder / "summary.json").read_bytes() == summary


@pytest.mark.slow
def test_a_sweep_records_its_failed_diverged_and_collapsed_jobs_and_goes_on(tmp_path):
    # lr 1 trains; 1e6 overflows (diverged); 10 ends at ln|V| (collapsed); Nesterov without
    # momentum makes torch.optim.SGD raise when the job builds it (failed).
    _, err, rc = cli(
        tmp_path,
        "-m",
        "method=sgd",
        "method.lr=1.0,1e6,10.0",
        "method.nesterov=false,true",
        "train.max_steps=12",
        "run_name=sgd-lr${method.lr}-nesterov${method.nesterov}",
    )
    assert rc == 1
    summaries = {
        p.parent.name: json.loads(p.read_text()) for p in (tmp_path / "default").glob("*/summary.json")
    }
    assert len(summaries) == 6
    status = {name: s["status"] for name, s in summaries.items()}
    assert status == {
        "sgd-lr1.0-nesterovFalse": "ok",
        "sgd-lr1000000.0-nesterovFalse": "diverged",
        "sgd-lr10.0-nesterovFalse": "collapsed",
        **{f"sgd-lr{lr}-nesterovTrue": "failed" for lr in ("1.0", "1000000.0", "10.0")},
    }
    for s in summaries.values():
        if s["status"] == "failed":
            assert s["error"] == "ValueError: Nesterov momentum requires a momentum and zero dampening"
        else:
            assert s["steps"] >= 1 and s["mem_total_bytes"] > 0 and s["wall_clock_s"] > 0
    assert "ln of the vocabulary size" in summaries["sgd-lr10.0-nesterovFalse"]["error"]
    assert "Nesterov momentum requires a momentum" in err  # Hydra reports the first failure
