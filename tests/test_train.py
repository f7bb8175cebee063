"""The training loop end to end: summaries, the memory breakdown by hand, sweeps, W&B."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from helpers import FAST, TINY, compose_job, loss_fell, run_job
from hydra.utils import instantiate

from suite.loop import without
from suite.track.record import RunSummary
from suite.track.weights import weights_hash
from suite.train import run

SUMMARY_KEYS = set(RunSummary.keys())


@pytest.fixture(scope="module")
def adamw(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("adamw")
    return tmp, run_job(tmp, "method=adamw", "train.max_steps=12", "train.target_loss=100")


def test_summary_is_complete_and_on_disk(adamw):
    tmp, summary = adamw
    assert SUMMARY_KEYS <= summary.keys()
    assert summary["status"] == "ok"
    on_disk = json.loads((tmp / "default" / "adamw-seed0" / "summary.json").read_text())
    assert on_disk == json.loads(json.dumps(summary))
    assert (tmp / "default" / "adamw-seed0" / "config.yaml").exists()
    assert summary["peak_reserved_bytes"] is None and summary["peak_rss_bytes"] > 0
    assert 0 <= summary["eval_exact_match"] <= 1
    assert summary["time_to_target_s"] is not None and summary["time_to_target_s"] > 0
    base, _ = instantiate(without(compose_job().model, "name", "architecture"))
    assert summary["base_weights_hash"] == weights_hash(base)  # the weights it started from


@pytest.mark.parametrize("target, reached", [(100.0, True), (1e-6, False)])
def test_the_validation_loss_is_logged_off_the_clock_and_its_target_timed(tmp_path, target, reached):
    args = ("train.max_steps=8", "train.val_every=3", f"train.val_target_loss={target}", "eval.n_examples=0")
    summary = run_job(tmp_path, "method=adamw", "data.n_val=10", *args)
    rows = [json.loads(line) for line in (tmp_path / "default" / "adamw-seed0" / "metrics.jsonl").open()]
    val = [(r["train/step"], r["val/loss"]) for r in rows if "val/loss" in r]
    assert [step for step, _ in val] == [3, 6, 8] and summary["final_val_loss"] == val[-1][1]
    assert summary["val_target_reached"] is reached and summary["val_target_loss"] == target
    step3 = next(r["train/wall_clock_s"] for r in rows if r.get("train/step") == 3 and "train/loss" in r)
    assert summary["time_to_val_target_s"] == (step3 if reached else None)


def test_adamw_loss_goes_down(adamw):
    tmp, _ = adamw
    assert loss_fell(tmp / "default" / "adamw-seed0")


def test_adamw_memory_breakdown_by_hand(adamw):
    from suite.pretrain import tiny_base

    _, s = adamw
    kw = {k.split(".")[1]: int(v) for k, v in (o.split("=") for o in TINY if o.startswith("model."))}
    model, _ = tiny_base(**kw)
    params = list(model.parameters())
    n = sum(p.numel() for p in params)
    assert s["n_trainable_params"] == n
    assert s["mem_params_bytes"] == 4 * n
    assert s["mem_grads_bytes"] == 4 * n  # every fp32 gradient is alive at the end of backward
    # exp_avg and exp_avg_sq: 8 bytes per parameter, plus torch's 4-byte `step` tensor per tensor
    assert s["mem_state_bytes"] == 8 * n + 4 * len(params)
    assert s["mem_total_bytes"] == (
        s["mem_params_bytes"] + s["mem_grads_bytes"] + s["mem_state_bytes"] + s["mem_activations_bytes"]
    )


def test_signsgd_has_no_state(tmp_path):
    s = run_job(tmp_path, "method=signsgd", "method.lr=3e-3", "train.max_steps=12")
    assert s["status"] == "ok"
    assert s["mem_state_bytes"] == 0
    assert s["mem_grads_bytes"] == s["mem_params_bytes"]
    assert loss_fell(tmp_path / "default" / "signsgd-seed0")


def test_activations_grow_with_batch_size(tmp_path):
    small = run_job(
        tmp_path,
        "method=signsgd",
        "train.batch_size=4",
        "train.max_steps=2",
        "eval.n_examples=0",
        "run_name=b4",
    )
    large = run_job(
        tmp_path,
        "method=signsgd",
        "train.batch_size=8",
        "train.max_steps=2",
        "eval.n_examples=0",
        "run_name=b8",
    )
    assert small["mem_activations_bytes"] > 0
    assert 1.5 < large["mem_activations_bytes"] / small["mem_activations_bytes"] < 2.5


def test_failed_run_records_failed_status(tmp_path, job):
    cfg = job("method=signsgd", "method.momentum=0.5", f"results_dir={tmp_path}")
    cfg.method._target_ = "suite.methods.signsgd.no_such_builder"
    with pytest.raises(Exception, match="no_such_builder"):  # noqa: B017 (Hydra wraps the error)
        run(cfg)
    summary = json.loads((tmp_path / "default" / "signsgd-seed0" / "summary.json").read_text())
    assert summary["status"] == "failed" and "no_such_builder" in summary["error"]


@pytest.mark.slow
def test_cli_multirun_two_methods_with_wandb_offline(tmp_path):
    overrides = [o for o in FAST if not o.startswith("logger")]
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from suite.train import main; main()",
            "-m",
            "method=adamw,signsgd",
            *TINY,
            *overrides,
            f"results_dir={tmp_path}",
            "logger=wandb",
            "logger.mode=offline",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
        env={k: v for k, v in os.environ.items() if k != "WANDB_CACHE_DIR"} | {"HOME": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not (tmp_path / ".cache").exists()  # W&B's own logs stay in the run folders
    for name in ("adamw-seed0", "signsgd-seed0"):
        assert list((tmp_path / "default" / name / "wandb" / "cache").rglob("core-debug-*.log"))
    runs = {
        d.name: json.loads((d / "summary.json").read_text())
        for d in (tmp_path / "default").iterdir()
        if (d / "summary.json").exists()
    }
    assert set(runs) == {"adamw-seed0", "signsgd-seed0"}
    assert runs["signsgd-seed0"]["mem_state_bytes"] == 0
    assert runs["adamw-seed0"]["mem_state_bytes"] > 8 * runs["adamw-seed0"]["n_trainable_params"]
    assert list((tmp_path / "default" / "adamw-seed0" / "wandb").glob("offline-run-*"))
    assert "exact match" in proc.stdout


def test_alias_logs_its_step_size_and_the_clamped_fraction(tmp_path):
    """Method.step_stats reaches every logged row and the summary: γ, γ before the clamp, S, d."""
    s = run_job(
        tmp_path, "method=alias_adam", "method.clamp_level=1e-3", "method.update_gap=2", "eval.n_examples=0"
    )
    assert s["status"] == "ok"
    rows = [json.loads(line) for line in (tmp_path / "default" / "alias_adam-seed0" / "metrics.jsonl").open()]
    assert len(rows) == 8 and all({"alias/gamma", "alias/S", "alias/d"} <= set(r) for r in rows)
    for r in rows:
        assert r["train/lr"] == r["alias/gamma"]
        assert r["alias/gamma"] == pytest.approx(min(r["alias/gamma_unclamped"], 1e-3), rel=1e-6)  # fp32
    # the tiny model's f(x_0)/L_inf puts γ far above 1e-3 at every step: the rule never acts
    assert s["alias/clamped_fraction"] == rows[-1]["alias/clamped_fraction"] == 1.0
    assert s["alias/gamma_unclamped"] > 1e-3
