"""Sweeps through Hydra's launcher plugins: joblib runs a multirun's jobs in parallel processes,
submitit_local runs them through submitit on this machine, and the SLURM config composes into the
sbatch script submitit would submit; a job that fails leaves the others' results complete."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import submitit
import yaml
from helpers import FAST, TINY

REPO = Path(__file__).resolve().parents[1]
ONE_THREAD = {"OMP_NUM_THREADS": "1"}  # two jobs at once on a 2-core machine: one core each


def suite_train(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from suite.train import main; main()", *args],
        cwd=tmp_path,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=900,
    )


def summaries(folder: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(folder.glob("*/summary.json"))}


def complete(summary: dict) -> bool:
    """A run that trained, was measured and evaluated, and recorded all of it."""
    return (
        summary["status"] == "ok"
        and summary["steps"] == 8
        and summary["mem_total_bytes"] > 0
        and summary["wall_clock_s"] > 0
        and summary["eval_exact_match"] is not None
    )


@pytest.mark.slow
def test_joblib_runs_four_jobs_on_two_workers(tmp_path):
    proc = suite_train(
        tmp_path,
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "method=signsgd",
        "seed=0,1,2,3",
        *TINY,
        *FAST,
        f"results_dir={tmp_path}",
        env=ONE_THREAD,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Joblib launcher (n_jobs=2, a worker per slot) is launching 4 jobs" in proc.stderr + proc.stdout
    runs = summaries(tmp_path / "default")
    assert sorted(runs) == [f"signsgd-seed{k}" for k in range(4)]
    assert all(complete(s) for s in runs.values()), runs
    assert {s["device"] for s in runs.values()} == {"cpu (1 threads)"}


@pytest.mark.slow
def test_a_joblib_sweep_survives_a_killed_worker(tmp_path):
    args = ["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "method=signsgd", "seed=0,1,2,3"]
    args += [*TINY, *FAST, "train.max_steps=20", "eval.n_examples=0", f"results_dir={tmp_path}"]
    with open(tmp_path / "out.log", "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from suite.train import main; main()", *args],
            cwd=tmp_path,
            env={**os.environ, **ONE_THREAD},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        victim = tmp_path / "default" / "signsgd-seed1"
        deadline = time.monotonic() + 600
        while not ((victim / "metrics.jsonl").exists() and len((victim / "metrics.jsonl").read_text()) > 0):
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "out.log").read_text()
            time.sleep(0.05)
        os.kill(int((victim / ".lock").read_text()), signal.SIGKILL)  # the lock file names its owner
        assert proc.wait(timeout=900) != 0
    log = (tmp_path / "out.log").read_text()
    assert f"the job writing {victim} lost its worker to SIGKILL; its summary.json says killed" in log, log[
        -3000:
    ]
    runs = summaries(tmp_path / "default")
    assert {name: s["status"] for name, s in runs.items()} == {
        "signsgd-seed0": "ok",
        "signsgd-seed1": "killed",
        "signsgd-seed2": "ok",
        "signsgd-seed3": "ok",
    }
    assert runs["signsgd-seed1"]["error"] == "SIGKILL: the worker process running this job was killed"


@pytest.mark.slow
def test_submitit_local_runs_two_jobs(tmp_path):
    proc = suite_train(
        tmp_path,
        "-m",
        "hydra/launcher=submitit_local",
        "method=signsgd,adamw",
        *TINY,
        *FAST,
        f"results_dir={tmp_path}",
        env=ONE_THREAD,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = summaries(tmp_path / "default")
    assert sorted(runs) == ["adamw-seed0", "signsgd-seed0"]
    assert all(complete(s) for s in runs.values()), runs
    assert len(list((tmp_path / "default" / ".submitit").glob("*/*_result.pkl"))) == 2


@pytest.mark.slow
def test_a_failing_job_leaves_the_others_complete(tmp_path):
    """One job of three raises while building its method: its summary says so, the other two
    jobs' results are complete, and the multirun exits non-zero, its parallel workers included."""
    conf = tmp_path / "conf" / "method"
    conf.mkdir(parents=True)
    (conf / "broken.yaml").write_text("name: broken\n_target_: suite.methods.signsgd.no_such_builder\n")
    proc = suite_train(
        tmp_path,
        "-m",
        f"hydra.searchpath=[file://{tmp_path / 'conf'}]",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "method=signsgd,broken,adamw",
        *TINY,
        *FAST,
        f"results_dir={tmp_path}",
        env=ONE_THREAD,
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    runs = summaries(tmp_path / "default")
    assert sorted(runs) == ["adamw-seed0", "broken-seed0", "signsgd-seed0"]
    assert complete(runs["adamw-seed0"]) and complete(runs["signsgd-seed0"])
    assert runs["broken-seed0"]["status"] == "failed" and "no_such_builder" in runs["broken-seed0"]["error"]


def slurm_launcher_config(tmp_path: Path) -> dict:
    args = ["--cfg", "all", "--resolve", "hydra/launcher=slurm", "hydra.launcher.partition=gpu"]
    proc = suite_train(tmp_path, *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return yaml.safe_load(proc.stdout)["hydra"]["launcher"]


@pytest.mark.slow
def test_the_slurm_config_composes_into_the_sbatch_script(tmp_path, monkeypatch):
    launcher = slurm_launcher_config(tmp_path)
    assert launcher["_target_"].endswith("submitit_launcher.SlurmLauncher")
    # The sbatch script submitit makes of it, with the parameter names hydra-submitit-launcher
    # maps them to. submitit refuses to build a SLURM executor without `srun` on PATH: a stub
    # stands in for the cluster, which this machine is not.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\n")
    (bin_dir / "srun").chmod(stat.S_IRWXU)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    executor = submitit.AutoExecutor(folder=tmp_path / "submitit", cluster="slurm")
    shared = {"timeout_min", "cpus_per_task", "gpus_per_node", "tasks_per_node", "mem_gb", "nodes"}
    unused = {"_target_", "submitit_folder", "name", "max_num_timeout"}
    executor.update_parameters(
        **{(k if k in shared else f"slurm_{k}"): v for k, v in launcher.items() if k not in unused}
    )
    executor._executor.parameters["map_count"] = 20  # a 20-job array, as map_array sets it
    script = executor._executor._make_submission_file_text("python -m job", "uid")
    for line in (
        "#SBATCH --partition=gpu",
        "#SBATCH --gpus-per-node=1",
        "#SBATCH --time=240",
        "#SBATCH --mem=64GB",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --array=0-19%8",
        "export OMP_NUM_THREADS=8",
    ):
        assert line in script, (line, script)
