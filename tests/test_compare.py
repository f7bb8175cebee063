"""suite-compare: bad input stops with one line before any run; the declared workloads; each
method's search space; the report's numbers on hand-made runs; and, slow, three methods (one of
them ALIAS) tuned with 3 trials and rerun on 3 seeds end to end, whose rerun starts nothing."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import FAST, TINY, compose_job
from omegaconf import OmegaConf

from suite.compare import cli, protocol, report
from suite.compare.settings import RECORD, Space, from_record, keep_record, record, settings
from suite.configs import CONF_DIR
from suite.errors import ConfigError
from suite.track.store import write_atomic

WORKLOADS = sorted(p.stem for p in (CONF_DIR / "workload").glob("*.yaml"))
# Validation every 4 of the fast job's 8 steps, and a target some runs reach.
VALIDATED = ["data.n_val=16", "train.val_every=4", "train.val_target_loss=3.79"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["compare.workloads=[nope]"], "compare.workloads: unknown workload 'nope'; available: "),
        (["compare.methods=[adamw,nope]"], "compare.methods: unknown method 'nope'"),
        (["compare.eval_seeds=[1,2]"], "compare.eval_seeds=[1, 2]; allowed: at least 3 distinct"),
        (["compare.eval_seeds=[0,1,2]"], "holds the tuning seed 0; evaluation seeds must be disjoint"),
        (["compare.n_trials=0"], "compare.n_trials=0 is out of range; allowed: an integer >= 1"),
        (["compare.nope=1"], "unknown comparison option compare.nope=1"),
        (["compare.spaces.signsgd.lr=[1e-2,1e-3]"], "allowed: [low, high] with 0 < low < high"),
        (["compare.spaces.signsgd={momentum:[0.0,0.9]}"], "searches momentum but no lr"),
        (["method=adamw"], "method=adamw: method is set by the comparison for each run"),
        (["method.lr=1e-3"], "method is set by the comparison"),
        (["seed=1,2"], "seed=1,2 is a sweep"),
        (["train.val_target_loss=null"], "workload micro_math has no validation target"),
    ],
)
def test_bad_input_is_one_line_and_a_nonzero_exit(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as stop:
        cli.main([*argv, *TINY, *FAST, f"results_dir={tmp_path}"])
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and "\n" not in err
    assert err.startswith("suite-compare: error: ") and message in err, err
    assert not any(tmp_path.iterdir())


def test_each_method_searches_its_declared_space_or_its_lr_range_or_runs_once():
    s = settings(["methods=[adamw,signsgd,alias]"])
    assert s.spaces["adamw"] == Space((1e-4, 1e-2), {"weight_decay": [0.0, 0.1]})
    assert s.spaces["signsgd"].lr == (1e-5, 1e-2) and not s.spaces["signsgd"].others
    assert not s.spaces["alias"].tuned  # no lr range: ALIAS's step has no lr
    searched = ["search.lr=[0.0001,0.01]", "search.params.weight_decay=[0.0,0.1]"]
    assert s.spaces["adamw"].search_args() == searched


def test_a_rerun_must_keep_the_settings_it_was_started_with(tmp_path):
    s = settings(["n_trials=3", "eval_seeds=[1,2,3]"])
    assert from_record(record(s, ["logger=none"])) == (s, ["logger=none"])
    keep_record(tmp_path, s, ["logger=none"])
    keep_record(tmp_path, settings(["n_trials=3", "eval_seeds=[1,2,3]", "n_jobs=2"]), ["logger=none"])
    with pytest.raises(ConfigError, match="was started with other settings"):
        keep_record(tmp_path, settings(["n_trials=4", "eval_seeds=[1,2,3]"]), ["logger=none"])
    with pytest.raises(ConfigError, match="was started with other overrides"):
        keep_record(tmp_path, s, [])


def test_a_rerun_may_append_methods_and_nothing_else(tmp_path):
    """A method appended later is tuned and evaluated as if it had been there from the start; a
    reordered list, a removed method or a changed search space of an old one is refused."""
    base = ["n_trials=3", "methods=[adamw,signsgd]"]
    keep_record(tmp_path, settings(base), ["logger=none"])
    grown = settings([*base[:1], "methods=[adamw,signsgd,lion]", "spaces.lion.lr=[1e-5,1e-3]"])
    keep_record(tmp_path, grown, ["logger=none"])
    assert from_record(OmegaConf.to_container(OmegaConf.load(tmp_path / RECORD)))[0] == grown
    for changed in (
        ["n_trials=3", "methods=[signsgd,adamw,lion]"],
        ["n_trials=3", "methods=[adamw,lion]"],
        ["n_trials=3", "methods=[adamw,signsgd,lion,muon]", "spaces.adamw.lr=[1e-5,1e-1]"],
        ["n_trials=4", "methods=[adamw,signsgd,lion,muon]"],
    ):
        with pytest.raises(ConfigError, match="was started with other settings"):
            keep_record(tmp_path, settings(changed), ["logger=none"])


@pytest.mark.parametrize("workload", WORKLOADS)
def test_every_workload_is_timed_to_a_validation_target_with_a_small_enough_standard_error(workload):
    cfg = compose_job(f"workload={workload}")
    node = OmegaConf.load(CONF_DIR / "workload" / f"{workload}.yaml")  # its own values, not the fast job's
    assert node.train.val_every >= 1 and node.train.val_target_loss > 0 and node.data.n_val >= 1
    n = min(node.data.n_test, node.eval.n_examples)
    assert 100 * math.sqrt(0.25 / n) <= 1.5  # exact match's standard error at any accuracy, in points
    assert cfg.data.name in ("synthetic_math", "gsm8k")


def test_at_least_three_workloads_one_of_them_real_text():
    assert len(WORKLOADS) >= 3
    data = {compose_job(f"workload={w}").data.name for w in WORKLOADS}
    assert {"synthetic_math", "gsm8k"} <= data


def test_the_gsm8k_workload_reads_the_local_copy_when_one_is_named(monkeypatch):
    monkeypatch.setenv("SUITE_GSM8K_TRAIN", "/data/gsm8k/train.jsonl")
    assert compose_job("workload=gsm8k_text").data.path == "/data/gsm8k/train.jsonl"
    monkeypatch.delenv("SUITE_GSM8K_TRAIN")
    assert compose_job("workload=gsm8k_text").data.path is None  # the hub


def fake_run(folder: Path, name: str, **summary) -> None:
    write_atomic(folder / name / "summary.json", json.dumps({"status": "ok", **summary}))
    write_atomic(folder / name / "config.yaml", "data: {n_test: 1200}\neval: {n_examples: 1200}\n")


def test_the_report_on_hand_made_runs(tmp_path):
    """Two workloads, two methods (one run once): intervals over the seeds, the tuning compute
    summed over the trials, and the profile's median time with a miss counted as infinite."""
    s = settings(["workloads=[micro_math,micro_math_wide]", "methods=[signsgd,alias]", "eval_seeds=[1,2,3]"])
    s = type(s)(**{**s.__dict__, "spaces": {"signsgd": Space(None, {}), "alias": Space(None, {})}})
    times = {  # workload -> method -> the three seeds' times to target (None: not reached)
        "micro_math": {"signsgd": [10.0, 20.0, None], "alias": [30.0, None, None]},
        "micro_math_wide": {"signsgd": [50.0, 40.0, 60.0], "alias": [20.0, 25.0, 30.0]},
    }
    for workload, by_method in times.items():
        for method, seeds in by_method.items():
            fake_run(tmp_path / workload, protocol.once_name(method), final_val_loss=1.0, wall_clock_s=7.0)
            for seed, t in zip(s.eval_seeds, seeds, strict=True):
                fake_run(
                    tmp_path / workload,
                    protocol.eval_name(method, seed),
                    final_val_loss=1.0 + seed / 10,
                    eval_exact_match=0.5,
                    time_to_val_target_s=t,
                    val_target_reached=t is not None,
                    wall_clock_s=70.0,
                    mem_total_bytes=2**20,
                )
    runs = report.runs_frame(s, tmp_path)
    profile = report.profile_times(s, runs)
    assert profile.loc["micro_math"].tolist() == [20.0, math.inf]
    assert profile.loc["micro_math_wide"].tolist() == [50.0, 25.0]
    trials = report.trials_frame(s, tmp_path)
    rows = report.table(s, trials, runs).set_index(["workload", "method"])
    row = rows.loc[("micro_math", "signsgd")]
    assert row["val loss"].startswith("1.200 [1.100, 1.300]") and row["trials"] == 1
    assert row["tuning compute (s)"] == 7.0 and row["reached"] == "2/3"
    assert row["EM s.e. per run (pts)"] == "1.44 (<= 1.44, n=1200)"  # sqrt(0.25 / 1200) = 1.443%
    assert rows.loc[("micro_math", "alias"), "time to val target (s, median)"] == "did not reach"
    # tau = 1: signsgd is fastest on micro_math only; tau = 2: it is within 2x on micro_math_wide too.
    curve = pd.DataFrame(profile).pipe(lambda t: report.stats.performance_profile(t, [1.0, 2.0]))
    assert curve.loc[1.0].tolist() == [0.5, 0.5] and curve.loc[2.0].tolist() == [1.0, 0.5]
    assert np.isfinite(runs["val_loss"]).all()


def run_folders(folder: Path) -> set[str]:
    return {p.parent.name for p in folder.rglob("summary.json")}


@pytest.mark.slow
def test_three_methods_tuned_with_three_trials_then_three_seeds_and_a_rerun_starts_nothing(tmp_path, capsys):
    argv = [
        "compare.methods=[adamw,signsgd,alias]",
        "compare.n_trials=3",
        "compare.eval_seeds=[1,2,3]",
        "compare.n_resamples=1000",
        "compare.n_jobs=2",
        *TINY,
        *FAST,
        *VALIDATED,
        f"results_dir={tmp_path}",
    ]
    cli.main(argv)
    first = capsys.readouterr().out
    folder = tmp_path / "compare" / "default"
    runs = run_folders(folder)
    tuning = {f"{m}-tuning-{i:03d}" for m in ("adamw", "signsgd") for i in range(3)} | {"alias-tuning-000"}
    evals = {protocol.eval_name(m, seed) for m in ("adamw", "signsgd", "alias") for seed in (1, 2, 3)}
    assert runs == tuning | evals, first
    for name in ("table.md", "table.tex", "profile.png", "budget.png", "trials.csv", "runs.csv"):
        assert (folder / name).is_file(), name
    table = (folder / "table.md").read_text()
    assert table.count("| micro_math ") == 3 and "95% percentile bootstrap" in table
    assert "[" in table.split("\n")[-2]  # an interval in the last row
    trials = pd.read_csv(folder / "trials.csv")
    assert trials.groupby("method").size().to_dict() == {"adamw": 3, "alias": 1, "signsgd": 3}
    for name in evals:  # the chosen setting, rerun on an evaluation seed with exact match on the test split
        config = OmegaConf.load(folder / "micro_math" / name / "config.yaml")
        assert config.seed in (1, 2, 3) and config.eval.n_examples == 4
    stamps = {p: p.stat().st_mtime_ns for p in folder.rglob("summary.json")}

    cli.main(argv)
    again = capsys.readouterr().out
    assert "running" not in again and "0 evaluation runs to make" in again
    assert run_folders(folder) == runs
    assert stamps == {p: p.stat().st_mtime_ns for p in folder.rglob("summary.json")}


def test_an_arm_is_a_method_with_fixed_settings_tuned_over_its_methods_range():
    s = settings(["methods=[signsgd,signum]", "arms.signum.method=signsgd", "arms.signum.momentum=0.9"])
    assert s.method_args("signum") == ["method=signsgd", "method.momentum=0.9"]
    assert s.method_args("signsgd") == ["method=signsgd"]
    assert s.spaces["signum"] == s.spaces["signsgd"] and s.spaces["signum"].lr == (1e-5, 1e-2)
    assert from_record(record(s, []))[0] == s
    with pytest.raises(ConfigError, match="allowed: {method: <one of"):
        settings(["methods=[signum]", "arms.signum.method=nope"])
    with pytest.raises(ConfigError, match="a method has that name"):
        settings(["methods=[signsgd]", "arms.signsgd.method=adamw"])
    with pytest.raises(ConfigError, match=r"arms.nc.clamp_level='inf' is a string.*\.inf"):
        settings(["methods=[nc]", "arms.nc.method=alias", "arms.nc.clamp_level=inf"])
    assert (
        settings(["methods=[nc]", "arms.nc.method=alias", "arms.nc.clamp_level=.inf"]).arms["nc"][
            "clamp_level"
        ]
        == math.inf
    )
    own = settings(
        ["methods=[absignsgd]", "arms.absignsgd.method=absignsgd", "arms.absignsgd.weight_decay=0.01"]
    )
    assert own.method_args("absignsgd") == ["method=absignsgd", "method.weight_decay=0.01"]
