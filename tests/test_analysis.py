"""The analysis (``suite.papers``): tables (rows, columns, order, values) from a small fake
results store, every artefact built and every notebook executed against it, and the committed
tables rebuilt from the committed results."""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from suite import papers
from suite.papers import absignsgd, alias, claims, docs, frames, protocol, sqmeft, stosignsgd
from suite.papers.registry import Sweep, artefact
from suite.toy import run_toy
from suite.track.store import RunFolder, write_atomic

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "analysis").glob("*.py"))
MIB = 2**20
CLAMPED = alias.CLAMPED


def fake_run(
    root: Path,
    experiment: str,
    run_name: str,
    method: str,
    *,
    seed: int = 0,
    data: str = "synthetic_math",
    cfg: dict | None = None,
    losses=(3.0, 2.0, 1.0),
    val_losses=(),
    wall: float = 10.0,
    **summary,
) -> None:
    """One run in the store format: config.yaml, metrics.jsonl and summary.json (flat field names);
    ``val_losses`` are logged at the steps of the first training losses."""
    record = RunFolder(root / experiment / run_name)
    config = {
        "method": {"name": method},
        "model": {"name": "tiny", "num_layers": 4, "dtype": "float32"},
        "data": {"name": data},
        "seed": seed,
    }
    for key, value in (cfg or {}).items():
        if isinstance(value, dict):
            config.setdefault(key, {}).update(value)
        else:
            config[key] = value
    record.write_config(OmegaConf.create(config))
    for i, loss in enumerate(losses, start=1):
        record.log({"train/step": 5 * i, "train/loss": loss, "train/wall_clock_s": wall * i / len(losses)})
        if i <= len(val_losses):
            record.log({"train/step": 5 * i, "val/loss": val_losses[i - 1]})
    record.close_metrics()
    base = {
        "experiment": experiment,
        "run_name": run_name,
        "method": method,
        "model": "tiny",
        "data": data,
        "seed": seed,
        "status": "ok",
        "final_train_loss": losses[-1],
        "eval_exact_match": None,
        "mem_params_bytes": 4 * 1000,
        "mem_grads_bytes": 4 * 1000,
        "mem_state_bytes": 8 * 1000,
        "mem_activations_bytes": 0,
        "mem_total_bytes": 16 * 1000,
        "peak_reserved_bytes": None,
        "peak_allocated_bytes": None,
        "peak_rss_bytes": 500 * MIB,
        "wall_clock_s": wall,
        "step_time_median_s": wall / 50,
        "time_to_target_s": None,
        "n_params": 1000,
        "n_trainable_params": 1000,
    }
    write_atomic(record.folder / "summary.json", json.dumps({**base, **summary}, indent=2) + "\n")


def _absignsgd_runs(root: Path) -> None:
    """Table 2, convergence (two datasets), memory (two dtypes, two depths), ablation."""
    for arm, mem, wall in [
        ("adamw", 400, 30),
        ("badam", 150, 12),
        ("absignsgd", 100, 10),
        ("apollo", 300, 25),
        ("galore", 320, 40),
        ("lora", 200, 20),
    ]:
        fake_run(root, "absignsgd_table2", f"{arm}-seed0", arm, wall=wall, mem_total_bytes=mem * MIB)
    # the convergence: validation losses at steps 5, 10, 15; LoRA ends worst (2.0, the target)
    _protocol_runs(
        root / "absignsgd_convergence",
        [
            ("badam", "badam", {}, 0.0, {"val_losses": (3.0, 1.8, 1.0), "wall": 20.0, "final_val_loss": 1.0}),
            ("absignsgd", "absignsgd", {}, 0.0, {"val_losses": (3.0, 2.0, 1.5), "final_val_loss": 1.5}),
            ("lora", "lora", {}, 0.0, {"val_losses": (3.0, 2.5, 2.0), "final_val_loss": 2.0}),
        ],
        {},
    )
    for arm in ("adamw", "absignsgd"):
        for dtype, width in (("float32", 4), ("bfloat16", 2)):
            for n in (4, 2):
                grads = width * 1000 if arm == "adamw" else width * 1000 // n
                state = 2 * width * 1000 if arm == "adamw" else 0
                fake_run(
                    root,
                    "absignsgd_memory",
                    f"{arm}-{dtype}-L{n}",
                    arm,
                    cfg={"model": {"num_layers": n, "dtype": dtype}},
                    mem_params_bytes=width * 1000,
                    mem_grads_bytes=grads,
                    mem_state_bytes=state,
                )
    _protocol_runs(
        root / "absignsgd_ablation",
        [
            (scheme, "absignsgd", {"selection_scheme": scheme}, 0.0, {"wall": wall, "val_losses": (3.0, 2.0)})
            for scheme, wall in [("uniform", 10.0), ("cyclic", 9.0), ("depth_biased", 8.0)]
        ],
        {},
    )


def _stosignsgd_runs(root: Path) -> None:
    """Figure 1 (the real toy, two seeds each) and the fine-tuning runs."""
    for optimizer in ("stosignsgd", "signsgd"):
        for seed in (0, 1):
            run_toy(
                root / "stosignsgd_fig1" / f"{optimizer}-seed{seed}",
                optimizer=optimizer,
                steps=400,
                seed=seed,
            )
    arms = [
        ("stosignsgd", "stosignsgd", {}, 0.3),
        ("adamw", "adamw", {"weight_decay": 0.05}, 0.2),
        ("signum", "signsgd", {"momentum": 0.9}, 0.1),
        ("signsgd", "signsgd", {"momentum": 0.0}, 0.05),
    ]
    spaces = {"adamw": {"lr": [1e-4, 1e-2], "weight_decay": [0.0, 0.1]}}
    _protocol_runs(root / "stosignsgd_finetune", arms, spaces)


def _protocol_runs(
    folder: Path,
    arms: list[tuple],
    spaces: dict,
    by_seed: dict | None = None,
    name: str = "protocol",
    workload: str = "micro_math",
) -> None:
    """A comparison as suite-compare writes it: per arm (``(arm, method, settings, em[, run
    fields])``), two tuning trials (10 s and 20 s) on seed 0, or one where its space has no lr,
    and evaluation runs on seeds 1-3 at the chosen lr 1e-3 (exact match ``em`` + 0.01 seed; the
    arm's run fields, e.g. ``val_losses``, passed to every evaluation run; ``by_seed``: more
    summary fields, {field: {seed: value}})."""
    where = f"compare/{name}/{workload}"
    methods = [arm for arm, *_ in arms]
    record = {
        "settings": {
            "name": name,
            "workloads": [workload],
            "methods": methods,
            "n_trials": 2,
            "tuning_seed": 0,
            "eval_seeds": [1, 2, 3],
            "sampler_seed": 0,
            "n_resamples": 1000,
            "spaces": {arm: spaces.get(arm, {"lr": [1e-5, 1e-2]}) for arm in methods},
        },
        "overrides": [],
    }
    write_atomic(folder / "compare" / name / "comparison.yaml", OmegaConf.to_yaml(OmegaConf.create(record)))
    for arm, method, settings, em, *fields in arms:
        base = {"final_val_loss": 2.0, **(fields[0] if fields else {})}
        cfg = {"method": {"lr": 1e-3, **settings}, "eval": {"n_examples": 1200}, "data": {"n_test": 1200}}
        tuned = record["settings"]["spaces"][arm].get("lr") is not None
        for trial, wall in ((0, 10.0), (1, 20.0))[: 2 if tuned else 1]:
            fake_run(folder, where, f"{arm}-tuning-00{trial}", method, cfg=cfg, **{**base, "wall": wall})
        for seed in (1, 2, 3):
            name = f"{arm}-eval-seed{seed}"
            fake_run(
                folder,
                where,
                name,
                method,
                seed=seed,
                cfg=cfg,
                eval_exact_match=em + 0.01 * seed,
                **base,
                **{k: v[seed] for k, v in (by_seed or {}).items()},
            )


def _alias_runs(root: Path) -> None:
    """ALIAS at two arms (at the clamp throughout, and without a clamp; no lr: one trial each) and
    SignSGD tuned with two trials (10 s and 20 s)."""
    arms = [
        ("alias_no_clamp", "alias_adam", {"clamp_level": float("inf")}, 0.0, {CLAMPED: 0.0}),
        (
            "alias_adam",
            "alias_adam",
            {"clamp_level": 1e-3},
            0.0,
            {"alias/clamped_fraction": 1.0, "wall": 5.0},
        ),
        ("signsgd", "signsgd", {"momentum": 0.0, "weight_decay": 0.01}, 0.0, {"final_val_loss": 1.98}),
    ]
    spaces = {
        "alias_adam": {"lr": None},
        "alias_no_clamp": {"lr": None},
        "signsgd": {"lr": [1e-4, 1e-1], "weight_decay": [0.0, 0.01]},
    }
    _protocol_runs(root / "alias_vs_tuned", arms, spaces)


def _sqmeft_runs(root: Path) -> None:
    """Table IV (five methods) and the Table V variants (two seeds each)."""
    table4 = [
        ("sqmeft", "sqmeft", None, 40, 600),
        ("lomo", "lomo", None, 40, 0),
        ("adamw", "adamw", None, 4000, 8000),
        ("sgdm", "sgd", 0.9, 4000, 4000),
        ("sgd", "sgd", 0.0, 4000, 0),
    ]
    for arm, method, momentum, grads, state in table4:
        cfg = {"method": {"momentum": momentum}} if momentum is not None else {}
        fake_run(
            root,
            "sqmeft_table4",
            f"{arm}-seed0",
            method,
            cfg=cfg,
            mem_params_bytes=4000,
            mem_grads_bytes=grads,
            mem_state_bytes=state,
            mem_activations_bytes=1000,
            mem_total_bytes=4000 + grads + state + 1000,
        )
    arms = [
        (variant, "sqmeft", {"beta": beta, "sign": sign, "rms_scaled": rms}, 0.1)
        for variant, beta, sign, rms in [
            ("no_rms", 0.95, True, False),
            ("full", 0.95, True, True),
            ("no_sign", 0.95, False, True),
            ("no_ema", 0.01, True, True),
        ]
    ]
    _protocol_runs(root / "sqmeft_table5", arms, {})


def make_store(root: Path) -> Path:
    """A few fake runs per artefact (methods written in a scrambled order)."""
    for write_runs in (_absignsgd_runs, _stosignsgd_runs, _alias_runs, _sqmeft_runs):
        write_runs(root)
    return root


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return make_store(tmp_path_factory.mktemp("results"))


def runs(store: Path, name: str) -> pd.DataFrame:
    return frames.load_runs(store / name)


# ---------------------------------------------------------------- loading and writing


def test_load_runs_flattens_config_and_names_arms(store):
    df = runs(store, "stosignsgd_finetune")
    assert {"cfg.method.name", "cfg.method.momentum", "arm", "final_loss", "run_dir"} <= set(df.columns)
    assert sorted(df["arm"].unique()) == ["adamw", "signsgd", "signum", "stosignsgd"]
    assert len(df) == 12 and set(df["seed"]) == {1, 2, 3}  # a comparison's evaluation runs, not its trials
    assert df["final_loss"].tolist() == [2.0] * len(df)  # mean of the last 5 of (3, 2, 1)


def test_load_runs_on_an_empty_folder_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the experiment first"):
        frames.load_runs(tmp_path)


def test_write_table_markdown_and_latex(tmp_path):
    t = pd.DataFrame({"method": ["A_b", "C"], "x (%)": [1.5, None]})
    frames.write_table(t, tmp_path, "Caption.")
    md = (tmp_path / "table.md").read_text()
    assert md.startswith("Caption.\n\n|") and "| —" in md
    tex = (tmp_path / "table.tex").read_text()
    assert "A\\_b" in tex and "x (\\%)" in tex and "\\caption{Caption.}" in tex


def test_artefact_folder_follows_results_and_prefix(monkeypatch, tmp_path):
    monkeypatch.setenv("SUITE_RESULTS", str(tmp_path))
    monkeypatch.setenv("SUITE_PREFIX", "paper_")
    assert frames.artefact_folder("sqmeft_table4") == tmp_path / "paper_sqmeft_table4"


# ---------------------------------------------------------------- ABSignSGD


def test_table2_rows_in_paper_order_with_ratios(store):
    t = absignsgd.table2_table(runs(store, "absignsgd_table2"))
    assert t["method"].tolist() == ["ABSignSGD", "LoRA", "GaLore", "BAdam", "APOLLO", "AdamW"]
    assert t.columns[0] == "method" and "paper: peak reserved (GB)" in t.columns
    row = t.set_index("method")
    assert row.loc["LoRA", "ours: memory / ABSignSGD"] == 2.0
    assert row.loc["GaLore", "ours: runtime / ABSignSGD"] == 4.0
    assert "ours: peak RSS (MiB)" not in t.columns  # process-lifetime peak in a multirun
    assert row.loc["GaLore", "paper: runtime / ABSignSGD"] == round(12.77 / 2.66, 2)
    assert row.loc["BAdam", "paper: peak reserved (GB)"] == 23.19
    assert pd.isna(row.loc["AdamW", "paper: runtime (h)"])
    order = frames.ordering(t, "paper: runtime / ABSignSGD")
    assert order == ["ABSignSGD", "BAdam", "LoRA", "APOLLO", "GaLore"]
    assert row.loc["ABSignSGD", "paper: math average (%)"] == 76 and pd.isna(
        row.loc["AdamW", "paper: math average (%)"]
    )
    assert row["paper: math average (%)"].dropna().tolist() == [76, 68, 65, 70, 62]


def test_table2_layerwise_galore_arm_gets_the_papers_galore_row(store):
    r = runs(store, "absignsgd_table2")
    r = r.assign(arm=r["arm"].replace({"galore": "galore_layerwise"}))
    row = absignsgd.table2_table(r).set_index("method").loc["GaLore (layerwise)"]
    assert row["paper: peak reserved (GB)"] == 23.47 and row["paper: math average (%)"] == 65


def test_table2_claims_compare_with_the_layerwise_apollo_arm(tmp_path):
    """Layer-wise APOLLO (the paper's APOLLO recipe) is one of the rivals ABSignSGD must beat."""
    fake_run(tmp_path, "t2", "absignsgd-seed0", "absignsgd", mem_total_bytes=100)
    fake_run(tmp_path, "t2", "apollo_layerwise-seed0", "apollo_layerwise", mem_total_bytes=90)
    memory = claims.evaluate_artefact("absignsgd_table2", tmp_path / "t2")[0]
    assert memory.claim.id == "absignsgd_table2.memory"
    assert memory.rival == "apollo_layerwise" and memory.verdict == "disagrees"


def test_table2_recipe_precision_arms_show_the_guard_beside_their_fp32_masters_arm(tmp_path):
    """GaLore/APOLLO layer-wise at the recipe's pure bf16 get the paper's rows and the guard's
    fraction; their fp32-masters arms are rows of their own, with no paper figure."""
    for precision, moved in (("recipe", 0.07), ("fp32_masters", 0.91)):
        run = f"galore_layerwise-{precision}-seed0"
        fake_run(
            tmp_path,
            "t2",
            run,
            "galore_layerwise",
            cfg={"precision": precision},
            update_applied_fraction_min=moved,
        )
    fake_run(tmp_path, "t2", "apollo_layerwise-recipe-seed0", "apollo_layerwise", cfg={"precision": "recipe"})
    fake_run(tmp_path, "t2", "absignsgd-seed0", "absignsgd")
    t = absignsgd.table2_table(frames.load_runs(tmp_path / "t2")).set_index("method")
    moved = "ours: coordinates moved per step, min (%)"
    assert t.loc["GaLore (layerwise)", moved] == 7.0
    assert t.loc["GaLore (layerwise), fp32 masters", moved] == 91.0
    assert t.loc["GaLore (layerwise)", "paper: peak reserved (GB)"] == 23.47
    assert pd.isna(t.loc["GaLore (layerwise), fp32 masters", "paper: peak reserved (GB)"])
    assert t.loc["APOLLO (layerwise)", "paper: peak reserved (GB)"] == 22.58
    assert pd.isna(t.loc["ABSignSGD", moved])


def test_convergence_time_to_the_worst_final_validation_loss(store):
    folder = store / "absignsgd_convergence"
    t = absignsgd.convergence_table(folder, frames.load_runs(folder)).set_index("method")
    assert t.index.tolist() == ["ABSignSGD", "LoRA", "BAdam"]
    # LoRA ends worst; its final validation loss is the target every method reaches
    assert t["target val loss"].tolist() == [2.0] * 3
    # steps to the first validation at or below 2.0 x the median step time (wall / 50)
    assert t["time to target (s, median)"].tolist() == ["2.0", "3.0", "4.0"]
    assert t["reached target"].tolist() == ["3/3"] * 3
    assert t.loc["BAdam", "runtime / ABSignSGD"] == 2.0 and t.loc["BAdam", "wall-clock (s)"] == 20.0
    assert t.loc["BAdam", "paper: runtime / ABSignSGD (Table 2)"] == round(3.32 / 2.66, 2)
    assert t["trials"].tolist() == [2] * 3 and t["seeds"].tolist() == [3] * 3
    assert t.loc["LoRA", "val loss"] == "2.000 [2.000, 2.000]"


def test_an_artefact_of_two_comparisons_has_a_row_per_workload_and_arm(tmp_path):
    """One comparison per dataset in the same artefact folder (each run and resumed on its own)."""
    arms = [("absignsgd", "absignsgd", {}, 0.0, {"val_losses": (3.0, 2.0)})]
    _protocol_runs(tmp_path, arms, {})
    gsm8k = [("absignsgd", "absignsgd", {}, 0.0, {"val_losses": (3.0, 2.5), "data": "gsm8k", "wall": 20.0})]
    _protocol_runs(tmp_path, gsm8k, {}, name="protocol_gsm8k", workload="gsm8k_text")
    runs = frames.load_runs(tmp_path)
    t = protocol.protocol_table(tmp_path, runs)
    assert t[["comparison", "workload", "seeds", "trials"]].values.tolist() == [
        ["protocol", "micro_math", 3, 2],
        ["protocol_gsm8k", "gsm8k_text", 3, 2],
    ]
    c = absignsgd.convergence_table(tmp_path, runs)
    assert c["data"].tolist() == ["synthetic math", "GSM8K"] and c["wall-clock (s)"].tolist() == [10.0, 20.0]


def test_memory_bytes_per_param_and_formulas(store):
    t = absignsgd.memory_table(runs(store, "absignsgd_memory"))
    assert t["method"].tolist() == ["ABSignSGD"] * 4 + ["AdamW"] * 4
    assert t["weights"].tolist()[:4] == ["bfloat16", "bfloat16", "float32", "float32"]
    assert t["N (layers)"].tolist()[:4] == [2, 4, 2, 4]
    first = t.iloc[1]  # ABSignSGD, bf16, N = 4
    assert (first["ours: weights B/param"], first["ours: grads B/param"]) == (2.0, 0.5)
    assert first["ours: total B/param"] == 2.5 and first["paper: B/param"] == round(2 + 1 / 32, 3)
    assert first["reference code: B/param"] == 2.5
    assert first["ours: total / AdamW"] == round(2.5 / 8, 3)
    assert t.iloc[-1]["paper: B/param"] == 18.0 and t.iloc[-1]["ours: total B/param"] == 16.0
    assert pd.isna(t.iloc[-1]["reference code: B/param"])


def test_ablation_schemes_in_order_with_runtime_vs_uniform(store):
    folder = store / "absignsgd_ablation"
    t = absignsgd.ablation_table(folder, absignsgd.ablation_runs(folder))
    assert t["selection"].tolist() == ["depth-biased", "uniform", "cyclic"]
    assert set(t["update"]) == {"sign"} and t["seeds"].tolist() == [3, 3, 3]
    assert t["ours: runtime / uniform"].tolist() == [0.8, 1.0, 0.9]
    assert t["trials"].tolist() == [2] * 3 and t["chosen setting"].tolist() == ["lr 0.001"] * 3
    # the paper reports similar convergence for its three schemes, no runtime ratio between them
    assert t["paper: convergence"].tolist() == ["similar for the three schemes"] * 3
    assert "paper: runtime / uniform" not in t.columns
    assert t["ours: final train loss"].tolist() == [2.0] * 3  # the mean of (3, 2, 1)


# ---------------------------------------------------------------- StoSignSGD


def test_fig1_signsgd_stalls_stosignsgd_converges(store):
    t = stosignsgd.fig1_table(runs(store, "stosignsgd_fig1"))
    assert t["optimizer"].tolist() == ["SignSGD", "StoSignSGD"]
    assert t["f(x0)"].tolist() == [2.7, 2.7]
    stall, conv = t["ours: final f (mean)"].tolist()
    assert stall > 1.3 > 0.5 > conv
    assert t["paper (Fig. 1)"].tolist() == ["does not converge", "converges"]


def test_finetune_exact_match_with_paper_beside(store):
    folder = store / "stosignsgd_finetune"
    t = stosignsgd.finetune_table(folder, runs(store, "stosignsgd_finetune"))
    assert t["method"].tolist() == ["AdamW", "SignSGD (beta 0)", "SignSGD (Signum, beta 0.9)", "StoSignSGD"]
    # mean over seeds 1-3 of em + 0.01 * seed, and its bootstrap interval over those three values
    assert t["exact match (%)"].tolist()[0] == "22.0 [21.0, 23.0]"
    assert t["exact match (%)"].str.split(" ").str[0].tolist() == ["22.0", "7.0", "12.0", "32.0"]
    assert t["seeds"].tolist() == [3] * 4 and t["trials"].tolist() == [2] * 4  # tuning trials left out
    assert t["tuning compute (s)"].tolist() == [30.0] * 4
    assert t["chosen setting"].tolist() == ["lr 0.001, weight_decay 0.05"] + ["lr 0.001"] * 3
    assert t["EM s.e. per run (pts)"].iloc[0] == "1.20 (<= 1.44, n=1200)"  # sqrt(.22 * .78 / 1200)
    assert t["paper: GSM8k (%)"].tolist()[2:] == [71.95, 77.33]
    assert pd.isna(t["paper: GSM8k (%)"].iloc[1])


def test_finetune_math_column_is_the_runs_lm_eval_task(tmp_path):
    math = {1: 0.25, 2: 0.3, 3: 0.35}  # lm_eval_suite_math_exact_match of seeds 1-3
    _protocol_runs(tmp_path, [("adamw", "adamw", {}, 0.2)], {}, {"lm_eval_suite_math_exact_match": math})
    t = stosignsgd.finetune_table(tmp_path, frames.load_runs(tmp_path))
    assert t["ours: MATH task (%)"].tolist() == ["30.0 [25.0, 35.0]"]


# ---------------------------------------------------------------- ALIAS


def test_alias_vs_tuned_counts_the_search_in_the_tuned_compute(store):
    folder = store / "alias_vs_tuned"
    t = alias.vs_tuned_table(folder, frames.load_runs(folder))
    assert t["method"].tolist() == ["ALIAS (the script's clamp)", "ALIAS (no clamp)", "SignSGD (tuned)"]
    # ALIAS has no lr: its one run at its defaults is its trial
    assert t["trials"].tolist() == [1, 1, 2] and t["chosen setting"].tolist()[:2] == ["defaults"] * 2
    assert t["chosen setting"].iloc[2] == "lr 0.001, weight_decay 0.01"
    # the clamp: where it bound at every step the parameter-free rule never set the step
    assert t["clamp"].tolist()[:2] == ["0.001", "none"] and pd.isna(t["clamp"].iloc[2])
    assert t["ours: steps at the clamp"].tolist()[:2] == [1.0, 0.0]
    # a trained SignSGD costs its trials (10 + 20 s) and its own run (10 s); ALIAS its run (5 s)
    assert t["ours: compute incl. search (s)"].tolist() == [5.0, 10.0, 40.0]
    assert t["ours: compute / ALIAS"].tolist() == [1.0, 2.0, 8.0]
    assert t["paper: compute / ALIAS"].tolist()[2] == 1.5 and pd.isna(t["paper: compute / ALIAS"].iloc[1])
    assert t["paper: val loss 130M"].iloc[0] == 3.006 and t["paper: val loss 130M"].iloc[2] == 2.980
    assert t["val loss"].tolist()[2] == "1.980 [1.980, 1.980]"


# ---------------------------------------------------------------- SQ-MEFT


def test_table4_breakdown_rows_and_ratios(store):
    t = sqmeft.table4_table(runs(store, "sqmeft_table4"))
    assert t["method"].tolist() == ["AdamW", "SGD", "SGDM", "LOMO", "SQ-MEFT"]
    assert list(t.columns[:7]) == [
        "method",
        "ours: params (MiB)",
        "ours: grads (MiB)",
        "ours: states (MiB)",
        "ours: activations (MiB)",
        "ours: total (MiB)",
        "ours: total / AdamW",
    ]
    row = t.set_index("method")
    assert row.loc["SGDM", "ours: states B/param"] == 4.0
    assert row.loc["SGDM", "ours: states (MiB)"] == round(4000 / MIB, 3)
    assert row.loc["SQ-MEFT", "ours: total / AdamW"] == round(5640 / 17000, 3)
    assert row.loc["SQ-MEFT", "paper: total (GB)"] == 18.1
    assert row.loc["AdamW", "paper: states B/param"] == round(75.5 * 2**30 / 6.738e9, 2)


def test_table5_variants_in_order(store):
    folder = store / "sqmeft_table5"
    found = sqmeft.table5_runs(folder)
    t = sqmeft.table5_table(found, protocol.protocol_table(folder, found))
    assert t["variant"].tolist() == ["SQ-MEFT (full)", "no EMA", "no RMS", "no sign"]
    assert t[["sign", "EMA", "RMS"]].values.tolist() == [
        ["yes"] * 3,
        ["yes", "no", "yes"],
        ["yes", "yes", "no"],
        ["no", "yes", "yes"],
    ]
    assert t["paper: accuracy (%)"].tolist()[0] == 87.2
    assert t["exact match (%)"].tolist() == ["12.0 [11.0, 13.0]"] * 4 and t["trials"].tolist() == [2] * 4


# ---------------------------------------------------------------- the registry


def test_every_artefact_has_a_notebook_and_an_experiment():
    assert {p.stem for p in NOTEBOOKS} == set(papers.ARTEFACTS)
    for name in papers.ARTEFACTS:
        assert (REPO / "experiments" / f"{name}.yaml").exists()


def test_every_tiny_experiment_feeds_a_registered_artefact():
    """The registrations name existing experiment files, and every tiny file is named by one."""
    named = {e for art in papers.ARTEFACTS.values() for e in art.experiments}
    tiny = {p.stem for p in (REPO / "experiments").glob("*.yaml") if not p.stem.startswith("paper_")}
    assert named == tiny


def test_every_notebook_header_is_its_registry_block():
    for notebook in NOTEBOOKS:
        assert f"# <!-- generated from registry:notebook/{notebook.stem} -->" in notebook.read_text()


def test_a_sweep_reading_local_data_is_skipped_in_run_all_without_it():
    sweep = Sweep("x_gsm8k", overrides=("data.path=$GSM8K_PATH", "a=1"), needs="GSM8K_PATH")
    assert sweep.command == "suite-train -m experiment=x_gsm8k data.path=$GSM8K_PATH a=1"
    assert (
        docs._shell(sweep)
        == 'needs GSM8K_PATH && sweep suite-train -m experiment=x_gsm8k "data.path=$GSM8K_PATH" a=1'
    )


def test_run_all_runs_every_registered_sweep_then_every_notebook(tmp_path):
    """run_all.sh with each program replaced by one that prints its arguments: every sweep once,
    with the arguments every sweep takes, the GSM8K half skipped without its file, and each
    comparison (experiments/protocol.sh) once into its artefact's folder."""
    for program in ("suite-train", "suite-search", "suite-compare", "python"):
        stub = tmp_path / program
        stub.write_text(f'#!/bin/sh\necho "{program} $*"\n')
        stub.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "GSM8K_PATH": str(tmp_path / "none")}
    proc = subprocess.run(
        ["bash", str(REPO / "experiments" / "run_all.sh"), "device=cpu"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    ran = proc.stdout.splitlines()
    sweeps = [s for art in papers.ARTEFACTS.values() for s in art.sweeps]
    expected = []
    for s in sweeps:
        if s.needs or s.program == protocol.PROTOCOL:
            continue
        common = "logger=none" if s.program == "suite-search" else "logger=none overwrite=true"
        expected.append(f"{s.command} {common} results_dir=results device=cpu")
    assert [line for line in ran if "experiment=" in line] == expected
    assert [line for line in ran if line.startswith("python analysis/")] == [
        f"python analysis/{p.name}" for p in NOTEBOOKS
    ]
    assert proc.stderr.count("skipping a sweep") == sum(1 for s in sweeps if s.needs)
    compared = [
        a.name for a in papers.ARTEFACTS.values() if any(s.program == protocol.PROTOCOL for s in a.sweeps)
    ]
    assert [line.split("results_dir=")[1] for line in ran if line.startswith("suite-compare ")] == [
        f"results/{name}" for name in compared
    ]


# The public identifiers a caption's source must name (SQ-MEFT has no arXiv id: its title).
PUBLIC_IDS = {
    "absignsgd": ["OpenReview NQsdnYkCar", "github.com/yijiezcn/ABSignSGD"],
    "stosignsgd": ["arXiv 2604.15416"],
    "alias": ["arXiv 2506.03725"],
    "sqmeft": [sqmeft.TITLE],
}


def test_captions_cite_public_sources():
    for name, art in papers.ARTEFACTS.items():
        source = art.caption.split(" Paper: ", 1)[1]
        assert any(i in source for i in PUBLIC_IDS[name.split("_")[0]]), (name, source)
        assert ".md" not in source and "§" not in source, (name, source)  # no pointers to notes


@pytest.mark.parametrize("name", sorted(papers.ARTEFACTS))
def test_build_writes_table_and_figure(name, store, tmp_path):
    shutil.copytree(store / name, tmp_path / name)
    table, folder = papers.build(name, tmp_path)
    assert folder == tmp_path / name and len(table) > 0
    md = (folder / "table.md").read_text()
    assert md.startswith(papers.ARTEFACTS[name].caption + "\n\n")
    assert frames.table_cells(table).to_markdown(index=False, disable_numparse=True) in md
    assert (folder / "table.tex").read_text().startswith("\\begin{table}")
    png = (folder / "figure.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
    verdicts = (folder / "verdicts.md").read_text()
    for claim in claims.CLAIMS[name].claims:
        assert f"[{claim.id}]" in verdicts


def test_build_without_root_reads_results_and_prefix(store, tmp_path, monkeypatch):
    shutil.copytree(store / "sqmeft_table4", tmp_path / "paper_sqmeft_table4")
    monkeypatch.setenv("SUITE_RESULTS", str(tmp_path))
    monkeypatch.setenv("SUITE_PREFIX", "paper_")
    _, folder = papers.build("sqmeft_table4")
    assert folder == tmp_path / "paper_sqmeft_table4" and (folder / "table.md").exists()


def test_unknown_artefact_names_the_known_ones():
    with pytest.raises(KeyError, match="unknown artefact 'sqmeft_table9'; known: absignsgd_ablation"):
        papers.build("sqmeft_table9")


def test_an_artefact_name_registers_once_and_names_its_experiments():
    with pytest.raises(ValueError, match="registered twice"):
        artefact("sqmeft_table4", "SQ-MEFT Table IV: what.", "Source", experiments=["sqmeft_table4"])(
            sqmeft.table4
        )
    assert papers.ARTEFACTS["sqmeft_table4"].build is sqmeft.table4
    with pytest.raises(ValueError, match="names no experiments"):
        artefact("sqmeft_table9", "SQ-MEFT Table IX: what.", "Source", experiments=[])(sqmeft.table4)
    with pytest.raises(ValueError, match="caption must start with '<paper> <artefact>: '"):
        artefact("sqmeft_table9", "Ablation: what.", "Source", experiments=["sqmeft_table4"])(sqmeft.table4)
    assert "sqmeft_table9" not in papers.ARTEFACTS


# ---------------------------------------------------------------- the notebooks


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_calls_its_artefacts_function(notebook):
    """The notebook builds through the tested function and the writer, not with its own code."""
    source = notebook.read_text()
    build = papers.ARTEFACTS[notebook.stem].build
    module = inspect.getmodule(build).__name__.rsplit(".", 1)[-1]
    assert f'NAME = "{notebook.stem}"' in source
    assert re.search(rf"^from suite\.papers import .*\b{module}\b", source, re.M), module
    assert f"{module}.{build.__name__}(FOLDER)" in source
    assert "papers.write(NAME, FOLDER, table, fig)" in source
    for rebuilt in ("load_runs", "load_curves", "_table(", "_figure(", "write_table", "write_figure"):
        assert rebuilt not in source, rebuilt


def _run_notebook(path: Path, results: Path) -> None:
    env = {**os.environ, "SUITE_RESULTS": str(results), "MPLBACKEND": "Agg"}
    env.pop("SUITE_PREFIX", None)
    proc = subprocess.run(
        [sys.executable, str(path)], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_writes_its_table_and_figure(notebook, store, tmp_path):
    shutil.copytree(store / notebook.stem, tmp_path / notebook.stem)
    _run_notebook(notebook, tmp_path)
    folder = tmp_path / notebook.stem
    assert (folder / "figure.png").stat().st_size > 1000
    table, _ = papers.ARTEFACTS[notebook.stem].build(folder)
    expected = frames.table_cells(table).to_markdown(index=False, disable_numparse=True)
    assert expected in (folder / "table.md").read_text()
    assert (folder / "table.tex").read_text().startswith("\\begin{table}")


@pytest.mark.slow
def test_notebook_runs_as_a_notebook(store, tmp_path, monkeypatch):
    """jupytext -> nbclient: the percent script is a real notebook."""
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = jupytext.read(REPO / "analysis" / "sqmeft_table4.py")
    results = tmp_path / "results"
    shutil.copytree(store / "sqmeft_table4", results / "sqmeft_table4")
    monkeypatch.setenv("SUITE_RESULTS", str(results))
    monkeypatch.delenv("SUITE_PREFIX", raising=False)
    nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}
    ).execute()
    assert (
        (results / "sqmeft_table4" / "table.md")
        .read_text()
        .startswith(papers.ARTEFACTS["sqmeft_table4"].caption)
    )


COMMITTED = REPO / "results"


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_tables_equal_what_the_notebooks_build(notebook, tmp_path):
    """The notebook run on a copy of the committed results rewrites the committed tables exactly."""
    source = COMMITTED / notebook.stem
    if not (source / "table.md").exists():
        pytest.skip(f"no committed results/{notebook.stem}/ yet (experiments/run_all.sh makes them)")
    shutil.copytree(source, tmp_path / notebook.stem)
    _run_notebook(notebook, tmp_path)
    for name in ("table.md", "table.tex", "verdicts.md"):
        assert (tmp_path / notebook.stem / name).read_text() == (source / name).read_text(), name


@pytest.mark.slow
def test_committed_verdicts_equal_what_the_claims_give_on_the_committed_runs():
    """results/verdicts.md and verdicts_summary.md (which the READMEs show) are current."""
    table, summary = claims.summaries(COMMITTED)
    assert (COMMITTED / "verdicts.md").read_text() == table, "run python -m suite.papers"
    assert (COMMITTED / "verdicts_summary.md").read_text() == summary, "run python -m suite.papers"


# ---------------------------------------------------------------- claims and verdicts


def claim(**kw) -> claims.Claim:
    base = {"id": "t.c", "artefact": "t", "statement": "A is lower", "paper": "P", "metric": "m", "unit": "u"}
    return claims.Claim(**{**base, "arm": "a", "versus": ("b",), **kw})


def frame(**arms: list[float]) -> pd.DataFrame:
    """One row per (arm, seed): arm=[value for seed 0, seed 1, ...]."""
    rows = [{"arm": arm, "seed": seed, "m": v} for arm, vs in arms.items() for seed, v in enumerate(vs)]
    return pd.DataFrame(rows)


def test_a_claim_over_three_paired_seeds_gets_its_bootstrap_interval():
    runs = frame(a=[1.0, 2.0, 3.0], b=[2.0, 4.0, 6.0])  # paired differences -1, -2, -3
    result = claims.evaluate(claim(), runs)
    assert result.verdict == "agrees" and result.effect == -2.0 and result.seeds == "3"
    assert (result.interval.low, result.interval.high) == (-3.0, -1.0)  # each extreme has p = 1/27
    assert claims.evaluate(claim(direction="higher"), runs).verdict == "disagrees"
    crossing = frame(a=[1.0, 2.0, 3.0], b=[2.0, 1.0, 3.5])  # differences -1, 1, -0.5
    assert claims.evaluate(claim(), crossing).verdict == "inconclusive"


def test_fewer_than_three_seeds_give_no_interval_and_an_inconclusive_verdict():
    result = claims.evaluate(claim(), frame(a=[1.0, 1.1], b=[5.0, 5.1]))
    assert result.verdict == "inconclusive" and result.interval is None
    assert result.effect == pytest.approx(-4.0) and result.seeds == "2 (< 3: no interval)"


def test_exact_claims_need_no_seeds_and_compare_every_run():
    exact = claim(exact=True, versus=("b", "c"))
    result = claims.evaluate(exact, frame(a=[100.0], b=[150.0], c=[120.0]))
    assert result.verdict == "agrees" and result.rival == "c" and result.effect == -20.0
    assert result.seeds == "exact, no seeds needed"
    assert claims.evaluate(exact, frame(a=[100.0], b=[150.0], c=[90.0])).verdict == "disagrees"


def test_within_claims_and_references():
    within = claim(direction="within", tolerance=0.5, exact=True, versus=(), reference=2.0)
    assert claims.evaluate(within, frame(a=[2.1, 2.3])).verdict == "agrees"
    assert claims.evaluate(within, frame(a=[2.6, 3.0])).verdict == "disagrees"
    assert claims.evaluate(within, frame(a=[2.1, 3.0])).verdict == "inconclusive"
    with pytest.raises(ValueError, match="needs a tolerance"):
        claim(direction="within")


def test_a_missing_arm_or_metric_is_inconclusive_and_says_so():
    assert claims.evaluate(claim(), frame(b=[1.0, 2.0, 3.0])).seeds.startswith("no a runs")
    assert claims.evaluate(claim(metric="other"), frame(a=[1.0], b=[2.0])).verdict == "inconclusive"
    assert claims.evaluate(claim(versus=("z",)), frame(a=[1.0])).seeds == "no rival's runs"


def test_every_artefact_declares_claims_citing_its_paper():
    assert set(claims.CLAIMS) == set(papers.ARTEFACTS)
    for name, declared in claims.CLAIMS.items():
        for c in declared.claims:
            assert c.id.startswith(f"{name}.") and c.artefact == name
            assert any(i in c.paper for i in PUBLIC_IDS[name.split("_")[0]]), c.id
    with pytest.raises(ValueError, match="declared twice"):
        claims.declare("sqmeft_table4", [])


def test_the_summary_names_what_agrees_and_disagrees_and_counts_the_rest():
    results = [
        claims.evaluate(claim(id="t.x", statement="X holds", exact=True), frame(a=[1.0], b=[2.0])),
        claims.evaluate(claim(id="t.y", statement="Y holds", exact=True), frame(a=[3.0], b=[2.0])),
        claims.evaluate(claim(id="t.z", statement="Z holds"), frame(a=[1.0], b=[2.0])),
    ]
    text = " ".join(claims.sentences(results).split())
    assert "**agree** with 1 of 3 paper claims (`results/README.md`): X holds." in text
    assert "**disagree** with 1: Y holds." in text and "**1 is inconclusive** (1 with < 3 seeds)" in text
