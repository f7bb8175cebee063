"""Rebuild the papers' tables and figures from the results store (``results/<artefact>/``).

The notebooks in ``analysis/`` are thin over this module: ``load_runs`` reads every run of an
artefact into a pandas DataFrame (summary fields, the resolved config flattened as ``cfg.*``
columns, and ``final_loss``), ``load_curves`` reads their ``metrics.jsonl``, one ``table_*``
function per artefact builds its table (ours beside the paper's numbers, which live in ``PAPER``
below with their source), one ``figure_*`` function draws its figure, and ``write_table`` /
``write_figure`` put ``table.md``, ``table.tex`` and ``figure.png`` next to the results.
Notebooks read results; they never train.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from suite.track.store import read_metrics, read_summaries  # noqa: E402

MIB = 2**20
GIB = 2**30
FINAL_LOGS = 5  # final_loss = mean training loss of the last FINAL_LOGS logged steps

# ---------------------------------------------------------------- the papers' numbers

LLAMA_7B_PARAMS = 6.738e9  # LLaMA-7B parameter count, to turn SQ-MEFT's GB into bytes/param

PAPER: dict[str, dict[str, Any]] = {
    "absignsgd_table2": {
        "source": "ABSignSGD (Zhou & Pu, ICLR'26) Table 2 and README: Qwen3-8B, 50K "
        "OpenMathInstruct-2 samples, 3 epochs, peak reserved GPU memory "
        "(ALGORITHMS.md §1)",
        "peak_reserved_gb": {
            "absignsgd": 20.29,
            "lora": 22.54,
            "galore": 23.47,
            "badam": 23.19,
            "apollo": 22.58,
        },
        "runtime_h": {"absignsgd": 2.66, "lora": 5.51, "galore": 12.77, "badam": 3.32, "apollo": 6.64},
    },
    "absignsgd_memory": {
        "source": "ABSignSGD README: 2M + M/(8N) GB vs 18M for mixed-precision AdamW, activations "
        "excluded; the reference code keeps the active block's gradient in bf16, "
        "~2M + 2M/N (ALGORITHMS.md §1)",
        "absignsgd": lambda n: 2 + 1 / (8 * n),
        "reference_code": lambda n: 2 + 2 / n,
        "adamw": lambda n: 18.0,
    },
    "absignsgd_ablation": {
        "source": "ABSignSGD via papernotes (ALGORITHMS.md §1): depth-biased selection saves "
        "~20% runtime over uniform",
        "runtime_vs_uniform": {"depth_biased": 0.8, "uniform": 1.0},
    },
    "stosignsgd_fig1": {
        "source": "StoSignSGD (arXiv 2604.15416) Fig. 1: f = |x1+x2| + 2|x1-x2|; SignSGD fails to "
        "converge, StoSignSGD converges (ALGORITHMS.md §2; no numbers given)",
        "outcome": {"signsgd": "does not converge", "stosignsgd": "converges"},
    },
    "stosignsgd_finetune": {
        "source": "StoSignSGD (arXiv 2604.15416) 7B math fine-tuning table (model unnamed in the "
        "snippet), AdamW / SignSGD / StoSignSGD (ALGORITHMS.md §2); the paper's "
        "SignSGD is Alg. 5 with beta1 shared with StoSignSGD, our Signum row",
        "gsm8k": {"adamw": 74.37, "signum": 71.95, "stosignsgd": 77.33},
        "math": {"adamw": 48.86, "signum": 47.66, "stosignsgd": 48.88},
    },
    "alias_vs_tuned": {
        "source": "ALIAS (Medyakov et al., ICLR'26; arXiv 2506.03725): matches grid-searched "
        "Sign-SGD and gives ~1.5x end-to-end speedup by skipping the lr search "
        "(ALGORITHMS.md §3; grid size not given)",
        "search_speedup": 1.5,
    },
    "sqmeft_table4": {
        "source": "SQ-MEFT Table IV: LLaMA-7B, SST-2, seq 512, batch 8, activation "
        "checkpointing, mixed precision, GB (ALGORITHMS.md §4)",
        # params, grads, states, activations, total (GB)
        "gb": {
            "adamw": (12.6, 12.6, 75.5, 1.8, 102.5),
            "sgd": (12.6, 12.6, 25.1, 1.8, 52.1),
            "sgdm": (12.6, 12.6, 50.1, 1.8, 77.1),
            "lomo": (12.6, 0.3, 0.0, 1.8, 14.7),
            "sqmeft": (12.6, 0.3, 3.4, 1.8, 18.1),
        },
    },
    "sqmeft_table5": {
        "source": "SQ-MEFT Table V (LLaMA-7B, mean accuracy on QNLI, CoLA, RTE; seed 004 text): "
        "the full method (sign, EMA, RMS) scores 87.2, the table's highest; the other "
        "values (85.7, 86.1, 86.3, 86.8) cannot be assigned to rows from the extracted "
        "text",
        "accuracy": {"full": 87.2},
    },
}

LABELS = {
    "absignsgd": "ABSignSGD",
    "absignsgd_mv": "ABSignSGD-MV",
    "lora": "LoRA",
    "galore": "GaLore",
    "galore_layerwise": "GaLore (layerwise)",
    "badam": "BAdam",
    "apollo": "APOLLO",
    "apollo_mini": "APOLLO-Mini",
    "adamw": "AdamW",
    "signsgd": "SignSGD",
    "signum": "Signum",
    "stosignsgd": "StoSignSGD",
    "alias": "ALIAS",
    "sqmeft": "SQ-MEFT",
    "sgd": "SGD",
    "sgdm": "SGDM",
    "lomo": "LOMO",
    "adalomo": "AdaLomo",
    "synthetic_math": "synthetic math",
    "gsm8k": "GSM8K",
    "depth_biased": "depth-biased",
    "uniform": "uniform",
    "cyclic": "cyclic",
    "full": "SQ-MEFT (full)",
    "no_ema": "no EMA",
    "no_rms": "no RMS",
    "no_sign": "no sign",
}

TABLE2_ORDER = ["absignsgd", "lora", "galore", "badam", "apollo", "adamw"]


def label(key: str) -> str:
    return LABELS.get(key, key)


def results_root() -> Path:
    """The results store the notebooks read: ``$SUITE_RESULTS``, default ``results`` (or
    ``../results`` when the notebook runs from ``analysis/``)."""
    if "SUITE_RESULTS" in os.environ:
        return Path(os.environ["SUITE_RESULTS"])
    here = Path("results")
    return here if here.exists() or not Path("../results").exists() else Path("../results")


def artefact_folder(name: str) -> Path:
    """``<results root>/<$SUITE_PREFIX><name>``: set ``SUITE_PREFIX=paper_`` for the paper-scale runs."""
    return results_root() / f"{os.environ.get('SUITE_PREFIX', '')}{name}"


# ---------------------------------------------------------------- loading


def _flat_config(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "config.yaml"
    if not path.exists():
        return {}
    cfg = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    flat = pd.json_normalize(cfg, sep=".").iloc[0].to_dict()
    return {f"cfg.{k}": v for k, v in flat.items()}


def arm_of(row: dict[str, Any]) -> str:
    """The method as the tables name it: SGD/SignSGD with momentum are SGDM/Signum."""
    method = row.get("method")
    momentum = row.get("cfg.method.momentum") or 0
    if method == "sgd" and momentum > 0:
        return "sgdm"
    if method == "signsgd" and momentum > 0:
        return "signum"
    return method


def load_runs(folder: str | Path) -> pd.DataFrame:
    """One row per run below ``folder`` (failed runs dropped): the summary, ``cfg.*`` columns,
    ``arm`` (see :func:`arm_of`) and ``final_loss`` (mean of the last logged training losses)."""
    rows = []
    for summary in read_summaries(folder):
        if summary.get("status") == "failed":
            continue
        summary.pop("versions", None)
        run_dir = Path(summary["run_dir"])
        row = {**summary, **_flat_config(run_dir)}
        row["arm"] = arm_of(row)
        losses = [m["train/loss"] for m in read_metrics(run_dir) if "train/loss" in m]
        row["final_loss"] = sum(losses[-FINAL_LOGS:]) / len(losses[-FINAL_LOGS:]) if losses else math.nan
        rows.append(row)
    if not rows:
        raise FileNotFoundError(f"no runs (summary.json) below {folder}: run the experiment first")
    return pd.DataFrame(rows)


def load_curves(runs: pd.DataFrame, keys: Iterable[str] = ("arm", "data", "seed")) -> pd.DataFrame:
    """The logged training-loss rows of every run, with the run's ``run_dir`` and ``keys``."""
    frames = []
    for _, run in runs.iterrows():
        rows = [m for m in read_metrics(run["run_dir"]) if "train/loss" in m]
        frame = pd.DataFrame(rows).rename(
            columns={"train/step": "step", "train/loss": "loss", "train/wall_clock_s": "wall_clock_s"}
        )
        frame["run_dir"] = run["run_dir"]
        for key in keys:
            frame[key] = run.get(key)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------- helpers


def _ordered(keys: Iterable[str], order: list[str]) -> list[str]:
    present = list(dict.fromkeys(keys))
    return [k for k in order if k in present] + sorted(k for k in present if k not in order)


def _mean_by(runs: pd.DataFrame, by: str | list[str], cols: list[str]) -> pd.DataFrame:
    numeric = runs.assign(**{c: pd.to_numeric(runs[c], errors="coerce") for c in cols})
    grouped = numeric.groupby(by, sort=False)
    out = grouped[cols].mean()
    out["seeds"] = grouped.size()
    return out


def _sd(values: pd.Series) -> float:
    return float(values.std(ddof=1)) if len(values) > 1 else math.nan


def ordering(table: pd.DataFrame, column: str, name: str = "method", descending: bool = False) -> list[str]:
    """Rows' names sorted by ``column`` (ascending unless ``descending``), missing values dropped."""
    rows = table.dropna(subset=[column])
    return rows.sort_values(column, kind="stable", ascending=not descending)[name].tolist()


def tick(flag: bool) -> str:
    return "yes" if flag else "no"


# ---------------------------------------------------------------- tables


def table_absignsgd_table2(runs: pd.DataFrame) -> pd.DataFrame:
    """ABSignSGD Table 2: memory and runtime per method, ours (mean over seeds) beside the paper's.

    Ratios are to ABSignSGD, so the tiny CPU run and the paper's Qwen3-8B GPU run compare. Every
    method runs the same number of steps, so our runtime ratio is the ratio of median step times
    (robust to the stalls of a shared machine); the wall-clock column is the best seed's. Peak
    RSS is left out: in a multirun every job shares one process, whose peak RSS only grows."""
    paper = PAPER["absignsgd_table2"]
    cols = ["mem_total_bytes", "peak_reserved_bytes", "wall_clock_s", "step_time_median_s"]
    mean = _mean_by(runs, "arm", cols)
    best_wall = runs.groupby("arm")["wall_clock_s"].min()
    base = mean.loc["absignsgd"] if "absignsgd" in mean.index else None
    rows = []
    for arm in _ordered(mean.index, TABLE2_ORDER):
        m = mean.loc[arm]
        gb, hours = paper["peak_reserved_gb"].get(arm), paper["runtime_h"].get(arm)
        rows.append(
            {
                "method": label(arm),
                "ours: exact memory (MiB)": round(m.mem_total_bytes / MIB, 2),
                "ours: peak reserved (GiB)": (
                    round(m.peak_reserved_bytes / GIB, 2) if pd.notna(m.peak_reserved_bytes) else None
                ),
                "ours: wall-clock, best seed (s)": round(best_wall[arm], 1),
                "ours: median step (ms)": round(1e3 * m.step_time_median_s, 1),
                "ours: memory / ABSignSGD": (
                    round(m.mem_total_bytes / base.mem_total_bytes, 2) if base is not None else None
                ),
                "paper: memory / ABSignSGD": (
                    round(gb / paper["peak_reserved_gb"]["absignsgd"], 2) if gb else None
                ),
                "ours: runtime / ABSignSGD": (
                    round(m.step_time_median_s / base.step_time_median_s, 2) if base is not None else None
                ),
                "paper: runtime / ABSignSGD": (
                    round(hours / paper["runtime_h"]["absignsgd"], 2) if hours else None
                ),
                "paper: peak reserved (GB)": gb,
                "paper: runtime (h)": hours,
            }
        )
    return pd.DataFrame(rows)


def smoothed(curve: pd.DataFrame, window: int = FINAL_LOGS) -> pd.Series:
    return curve["loss"].rolling(window, min_periods=1).mean()


def time_to_loss(curve: pd.DataFrame, target: float, window: int = FINAL_LOGS) -> float:
    """Training wall-clock at which the smoothed loss first reaches ``target`` (NaN if never)."""
    hit = curve["wall_clock_s"][smoothed(curve, window) <= target + 1e-12]
    return float(hit.iloc[0]) if len(hit) else math.nan


def table_absignsgd_convergence(runs: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """Runtime convergence: per dataset and method, the final loss, the wall-clock, and the time to
    reach the worst method's final loss (so every method reaches it; rolling mean of 5 logs)."""
    paper = PAPER["absignsgd_table2"]["runtime_h"]
    rows = []
    for data in _ordered(runs["data"], ["synthetic_math", "gsm8k"]):
        sub = runs[runs["data"] == data]
        target = sub.groupby("arm")["final_loss"].mean().max()
        base = sub[sub["arm"] == "absignsgd"]["step_time_median_s"].mean()
        for arm in _ordered(sub["arm"], TABLE2_ORDER):
            arm_runs = sub[sub["arm"] == arm]
            hits = [time_to_loss(curves[curves["run_dir"] == d], target) for d in arm_runs["run_dir"]]
            wall = arm_runs["wall_clock_s"].mean()
            step = arm_runs["step_time_median_s"].mean()
            rows.append(
                {
                    "data": label(data),
                    "method": label(arm),
                    "ours: final loss": round(arm_runs["final_loss"].mean(), 3),
                    "ours: wall-clock (s)": round(wall, 1),
                    "ours: time to target (s)": round(sum(hits) / len(hits), 1),
                    "target loss": round(target, 3),
                    "ours: median step (ms)": round(1e3 * step, 1),
                    "ours: runtime / ABSignSGD": round(step / base, 2) if pd.notna(base) else None,
                    "paper: runtime / ABSignSGD (Table 2)": (
                        round(paper[arm] / paper["absignsgd"], 2) if arm in paper else None
                    ),
                }
            )
    return pd.DataFrame(rows)


def table_absignsgd_memory(runs: pd.DataFrame) -> pd.DataFrame:
    """Bytes per parameter (weights, peak gradients, optimizer state; activations excluded) against
    the README's 2 + 1/(8N) for ABSignSGD and 18 for mixed-precision AdamW."""
    paper = PAPER["absignsgd_memory"]
    runs = runs.assign(layers=runs["cfg.model.num_layers"].astype(int), dtype=runs["cfg.model.dtype"])
    runs = runs.assign(
        w=runs["mem_params_bytes"] / runs["n_params"],
        g=runs["mem_grads_bytes"] / runs["n_params"],
        s=runs["mem_state_bytes"] / runs["n_params"],
    )
    runs = runs.assign(total=runs["w"] + runs["g"] + runs["s"])
    adamw = runs[runs["arm"] == "adamw"].set_index(["dtype", "layers"])["total"]
    rows = []
    for arm in _ordered(runs["arm"], ["absignsgd", "adamw"]):
        sub = runs[runs["arm"] == arm].sort_values(["dtype", "layers"], kind="stable")
        for _, r in sub.iterrows():
            n = r["layers"]
            ref = adamw.get((r["dtype"], n))
            formula = paper["absignsgd"](n) if arm == "absignsgd" else paper["adamw"](n)
            rows.append(
                {
                    "method": label(arm),
                    "weights": r["dtype"],
                    "N (layers)": n,
                    "params": int(r["n_params"]),
                    "ours: weights B/param": round(r["w"], 3),
                    "ours: grads B/param": round(r["g"], 3),
                    "ours: state B/param": round(r["s"], 3),
                    "ours: total B/param": round(r["total"], 3),
                    "paper: B/param": round(formula, 3),
                    "reference code: B/param": (
                        round(paper["reference_code"](n), 3) if arm == "absignsgd" else None
                    ),
                    "ours: total / AdamW": round(r["total"] / ref, 3) if ref else None,
                    "paper: total / AdamW": round(formula / paper["adamw"](n), 3),
                }
            )
    return pd.DataFrame(rows)


def _update_rule(runs: pd.DataFrame) -> pd.Series:
    """ "gradient" for runs with ``method.sign=false`` (a plain step in the block scheme), else "sign"."""
    if "cfg.method.sign" in runs:
        return runs["cfg.method.sign"].map({False: "gradient"}).fillna("sign")
    return pd.Series("sign", index=runs.index)


def table_absignsgd_ablation(runs: pd.DataFrame) -> pd.DataFrame:
    """Block selection (depth-biased / uniform / cyclic) x update rule: final loss (mean and sd over
    seeds), wall-clock and median step, runtime relative to uniform selection (median step time
    ratio: the same steps for every scheme)."""
    runs = runs.assign(scheme=runs["cfg.method.selection_scheme"], update=_update_rule(runs))
    paper = PAPER["absignsgd_ablation"]["runtime_vs_uniform"]
    rows = []
    for update in _ordered(runs["update"], ["sign", "gradient"]):
        sub = runs[runs["update"] == update]
        uniform = sub[sub["scheme"] == "uniform"]["step_time_median_s"].mean()
        for scheme in _ordered(sub["scheme"], ["depth_biased", "uniform", "cyclic"]):
            s = sub[sub["scheme"] == scheme]
            rows.append(
                {
                    "selection": label(scheme),
                    "update": update,
                    "seeds": len(s),
                    "ours: final loss": round(s["final_loss"].mean(), 3),
                    "ours: final loss sd": round(_sd(s["final_loss"]), 3),
                    "ours: wall-clock (s)": round(s["wall_clock_s"].mean(), 1),
                    "ours: median step (ms)": round(1e3 * s["step_time_median_s"].mean(), 1),
                    "ours: runtime / uniform": (
                        round(s["step_time_median_s"].mean() / uniform, 2) if pd.notna(uniform) else None
                    ),
                    "paper: runtime / uniform": paper.get(scheme) if update == "sign" else None,
                }
            )
    return pd.DataFrame(rows)


def table_stosignsgd_fig1(runs: pd.DataFrame) -> pd.DataFrame:
    """Figure 1 as numbers: f at the start and the mean f over the last iterates, per optimizer."""
    outcome = PAPER["stosignsgd_fig1"]["outcome"]
    rows = []
    for arm in _ordered(runs["arm"], ["signsgd", "stosignsgd"]):
        s = runs[runs["arm"] == arm]
        rows.append(
            {
                "optimizer": label(arm),
                "beta1": float(s["beta1"].iloc[0]),
                "seeds": len(s),
                "f(x0)": round(s["initial_value"].mean(), 3),
                "ours: final f (mean)": round(s["final_train_loss"].mean(), 4),
                "ours: final f (worst seed)": round(s["final_train_loss"].max(), 4),
                "paper (Fig. 1)": outcome.get(arm),
            }
        )
    return pd.DataFrame(rows)


def table_stosignsgd_finetune(runs: pd.DataFrame) -> pd.DataFrame:
    """Exact match on the math test split (mean and sd over seeds) and final training loss,
    beside the paper's GSM8k and MATH accuracy."""
    paper = PAPER["stosignsgd_finetune"]
    rows = []
    for arm in _ordered(runs["arm"], ["adamw", "signsgd", "signum", "stosignsgd"]):
        s = runs[runs["arm"] == arm]
        name = {"signsgd": "SignSGD (beta 0)", "signum": "SignSGD (Signum, beta 0.9)"}.get(arm, label(arm))
        rows.append(
            {
                "method": name,
                "seeds": len(s),
                "ours: exact match (%)": round(100 * s["eval_exact_match"].mean(), 1),
                "ours: exact match sd": round(100 * _sd(s["eval_exact_match"]), 1),
                "ours: final loss": round(s["final_loss"].mean(), 3),
                "paper: GSM8k (%)": paper["gsm8k"].get(arm),
                "paper: MATH (%)": paper["math"].get(arm),
            }
        )
    return pd.DataFrame(rows)


def table_alias_vs_tuned(runs: pd.DataFrame) -> pd.DataFrame:
    """ALIAS (no lr) vs SignSGD over an lr grid: each run's final loss and wall-clock, then the
    tuned SignSGD (best final loss of the grid) with the whole search's compute."""
    alias = runs[runs["arm"] == "alias"]
    grid = runs[runs["arm"] == "signsgd"].sort_values("cfg.method.lr", kind="stable")
    alias_wall = alias["wall_clock_s"].mean()
    rows = []
    if len(alias):
        rows.append(
            {
                "method": "ALIAS",
                "lr": "none (parameter-free)",
                "ours: final loss": round(alias["final_loss"].mean(), 3),
                "ours: wall-clock (s)": round(alias_wall, 1),
                "ours: compute incl. search (s)": round(alias_wall, 1),
                "ours: compute / ALIAS": 1.0,
                "paper: compute / ALIAS": 1.0,
            }
        )
    for _, r in grid.iterrows():
        rows.append(
            {
                "method": "SignSGD",
                "lr": f"{r['cfg.method.lr']:g}",
                "ours: final loss": round(r["final_loss"], 3),
                "ours: wall-clock (s)": round(r["wall_clock_s"], 1),
                "ours: compute incl. search (s)": None,
                "ours: compute / ALIAS": None,
                "paper: compute / ALIAS": None,
            }
        )
    if len(grid):
        best = grid.loc[grid["final_loss"].idxmin()]
        search = grid["wall_clock_s"].sum()
        rows.append(
            {
                "method": "SignSGD tuned (best of grid)",
                "lr": f"{best['cfg.method.lr']:g}",
                "ours: final loss": round(best["final_loss"], 3),
                "ours: wall-clock (s)": round(best["wall_clock_s"], 1),
                "ours: compute incl. search (s)": round(search, 1),
                "ours: compute / ALIAS": round(search / alias_wall, 2) if len(alias) else None,
                "paper: compute / ALIAS": PAPER["alias_vs_tuned"]["search_speedup"],
            }
        )
    return pd.DataFrame(rows)


def table_sqmeft_table4(runs: pd.DataFrame) -> pd.DataFrame:
    """SQ-MEFT Table IV: params / gradients / optimizer state / activations / total, ours in MiB and
    the paper's in GB, each total relative to AdamW's, and state in bytes per parameter."""
    gb = PAPER["sqmeft_table4"]["gb"]
    keys = [
        "mem_params_bytes",
        "mem_grads_bytes",
        "mem_state_bytes",
        "mem_activations_bytes",
        "mem_total_bytes",
    ]
    mean = _mean_by(runs, "arm", [*keys, "n_params"])
    adamw = mean.loc["adamw", "mem_total_bytes"] if "adamw" in mean.index else None
    rows = []
    for arm in _ordered(mean.index, ["adamw", "sgd", "sgdm", "lomo", "sqmeft"]):
        m, p = mean.loc[arm], gb.get(arm)
        row = {"method": label(arm)}
        for key, name in zip(keys, ["params", "grads", "states", "activations", "total"], strict=True):
            row[f"ours: {name} (MiB)"] = round(m[key] / MIB, 3)
        row["ours: total / AdamW"] = round(m.mem_total_bytes / adamw, 3) if adamw else None
        for i, name in enumerate(["params", "grads", "states", "activations", "total"]):
            row[f"paper: {name} (GB)"] = p[i] if p else None
        row["paper: total / AdamW"] = round(p[4] / gb["adamw"][4], 3) if p else None
        row["ours: states B/param"] = round(m.mem_state_bytes / m.n_params, 3)
        row["paper: states B/param"] = round(p[2] * GIB / LLAMA_7B_PARAMS, 2) if p else None
        rows.append(row)
    return pd.DataFrame(rows)


SQMEFT_VARIANTS = ["full", "no_ema", "no_rms", "no_sign"]


def _flag(runs: pd.DataFrame, column: str, default: Any) -> pd.Series:
    return runs[column].fillna(default) if column in runs else pd.Series(default, index=runs.index)


def table_sqmeft_table5(runs: pd.DataFrame) -> pd.DataFrame:
    """SQ-MEFT Table V: which of sign descent, EMA and RMS-scaled steps are on; final loss and
    exact match (mean over seeds) beside the paper's accuracy."""
    paper = PAPER["sqmeft_table5"]["accuracy"]
    runs = runs.assign(
        variant=runs["cfg.variant"],
        sign=_flag(runs, "cfg.method.sign", True),
        rms=_flag(runs, "cfg.method.rms_scaled", True),
    )
    rows = []
    for variant in _ordered(runs["variant"], SQMEFT_VARIANTS):
        s = runs[runs["variant"] == variant]
        first = s.iloc[0]
        rows.append(
            {
                "variant": label(variant),
                "sign": tick(bool(first["sign"])),
                "EMA": tick(float(first["cfg.method.beta"]) > 0),
                "RMS": tick(bool(first["rms"])),
                "beta": float(first["cfg.method.beta"]),
                "lr": f"{first['cfg.method.lr']:g}",
                "seeds": len(s),
                "ours: final loss": round(s["final_loss"].mean(), 3),
                "ours: final loss sd": round(_sd(s["final_loss"]), 3),
                "ours: exact match (%)": round(100 * s["eval_exact_match"].mean(), 1),
                "paper: accuracy (%)": paper.get(variant),
            }
        )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- figures


def _new(ncols: int = 1, width: float = 5.0) -> tuple[plt.Figure, list[plt.Axes]]:
    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, 3.8), squeeze=False)
    return fig, list(axes[0])


def _mean_curve(curves: pd.DataFrame, x: str) -> pd.DataFrame:
    """Seed-mean of the smoothed loss against ``x`` (steps align across seeds; wall-clock is averaged)."""
    parts = []
    for _, c in curves.groupby("run_dir", sort=False):
        parts.append(c.assign(smooth=smoothed(c).to_numpy()))
    both = pd.concat(parts)
    return both.groupby("step", sort=True).agg(loss=("smooth", "mean"), x=(x, "mean"))


def figure_absignsgd_table2(table: pd.DataFrame) -> plt.Figure:
    """Memory and runtime relative to ABSignSGD, ours beside the paper's."""
    fig, (ax1, ax2) = _new(2)
    x = range(len(table))
    for ax, what in ((ax1, "memory"), (ax2, "runtime")):
        ax.bar([i - 0.2 for i in x], table[f"ours: {what} / ABSignSGD"], 0.4, label="ours (tiny, CPU)")
        ax.bar(
            [i + 0.2 for i in x],
            table[f"paper: {what} / ABSignSGD"].astype(float),
            0.4,
            label="paper (Qwen3-8B)",
        )
        ax.set_xticks(list(x), table["method"], rotation=30)
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.set_ylabel(f"{what} / ABSignSGD")
    ax1.legend()
    fig.tight_layout()
    return fig


def figure_absignsgd_convergence(curves: pd.DataFrame) -> plt.Figure:
    """Training loss (rolling mean of 5 logs) against training wall-clock, one panel per dataset."""
    datasets = _ordered(curves["data"], ["synthetic_math", "gsm8k"])
    fig, axes = _new(len(datasets))
    for ax, data in zip(axes, datasets, strict=True):
        sub = curves[curves["data"] == data]
        for arm in _ordered(sub["arm"], TABLE2_ORDER):
            mc = _mean_curve(sub[sub["arm"] == arm], "wall_clock_s")
            ax.plot(mc["x"], mc["loss"], label=label(arm))
        ax.set(title=label(data), xlabel="training wall-clock (s)", ylabel="training loss")
    axes[0].legend()
    fig.tight_layout()
    return fig


def figure_absignsgd_memory(table: pd.DataFrame) -> plt.Figure:
    """Measured bytes per parameter against N, with the README's formulas."""
    fig, (ax,) = _new(1, 6.0)
    for (method, dtype), sub in table.groupby(["method", "weights"], sort=False):
        ax.plot(sub["N (layers)"], sub["ours: total B/param"], "o-", label=f"ours: {method}, {dtype}")
    n = sorted(table["N (layers)"].unique())
    paper = PAPER["absignsgd_memory"]
    ax.plot(n, [paper["absignsgd"](k) for k in n], "k--", label="paper: 2 + 1/(8N)")
    ax.plot(n, [paper["reference_code"](k) for k in n], "k:", label="reference code: 2 + 2/N")
    ax.plot(n, [paper["adamw"](k) for k in n], "r--", label="paper: AdamW 18")
    ax.set(xlabel="N (decoder layers)", ylabel="bytes per parameter (no activations)", yscale="log")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def figure_absignsgd_ablation(curves: pd.DataFrame) -> plt.Figure:
    """Loss against step and against wall-clock for each selection scheme (seed mean)."""
    fig, (ax1, ax2) = _new(2)
    for scheme in _ordered(curves["scheme"], ["depth_biased", "uniform", "cyclic"]):
        sub = curves[curves["scheme"] == scheme]
        by_step = _mean_curve(sub, "step")
        by_time = _mean_curve(sub, "wall_clock_s")
        ax1.plot(by_step.index, by_step["loss"], label=label(scheme))
        ax2.plot(by_time["x"], by_time["loss"], label=label(scheme))
    ax1.set(xlabel="step", ylabel="training loss")
    ax2.set(xlabel="training wall-clock (s)", ylabel="training loss")
    ax1.legend()
    fig.tight_layout()
    return fig


def figure_stosignsgd_fig1(curves: pd.DataFrame) -> plt.Figure:
    """f(x_t) against t, every seed (SignSGD is deterministic)."""
    fig, (ax1, ax2) = _new(2)
    colors = {"signsgd": "C0", "stosignsgd": "C1"}
    for _, c in curves.groupby("run_dir", sort=False):
        arm = c["arm"].iloc[0]
        ax1.plot(
            c["step"],
            c["loss"],
            color=colors.get(arm, "C2"),
            lw=0.8,
            label=label(arm) if c["seed"].iloc[0] == curves["seed"].min() else None,
        )
        ax2.plot(c["toy/x1"], c["toy/x2"], color=colors.get(arm, "C2"), lw=0.8)
    ax1.set(xlabel="iteration", ylabel="f(x)", yscale="log")
    ax2.set(xlabel="x1", ylabel="x2", title="iterates")
    ax2.plot([0], [0], "k*")
    ax1.legend()
    fig.tight_layout()
    return fig


def figure_stosignsgd_finetune(curves: pd.DataFrame, table: pd.DataFrame) -> plt.Figure:
    """Training loss per method (seed mean) and exact match, ours beside the paper's GSM8k."""
    fig, (ax1, ax2) = _new(2)
    for arm in _ordered(curves["arm"], ["adamw", "signsgd", "signum", "stosignsgd"]):
        mc = _mean_curve(curves[curves["arm"] == arm], "step")
        ax1.plot(mc.index, mc["loss"], label=label(arm))
    ax1.set(xlabel="step", ylabel="training loss")
    ax1.legend()
    x = range(len(table))
    ax2.bar([i - 0.2 for i in x], table["ours: exact match (%)"], 0.4, label="ours (tiny, synthetic)")
    ax2.bar([i + 0.2 for i in x], table["paper: GSM8k (%)"].astype(float), 0.4, label="paper (7B, GSM8k)")
    ax2.set_xticks(list(x), table["method"], rotation=20, fontsize=7)
    ax2.set_ylabel("exact match (%)")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return fig


def figure_alias_vs_tuned(curves: pd.DataFrame, runs: pd.DataFrame) -> plt.Figure:
    """Loss curves of ALIAS and of every lr of the SignSGD grid."""
    fig, (ax,) = _new(1, 6.0)
    lrs = runs.set_index("run_dir")["cfg.method.lr"].to_dict()
    for run_dir, c in curves.groupby("run_dir", sort=False):
        if c["arm"].iloc[0] == "alias":
            ax.plot(c["step"], smoothed(c), "k-", lw=2, label="ALIAS (no lr)")
        else:
            ax.plot(c["step"], smoothed(c), lw=1, label=f"SignSGD lr {lrs[run_dir]:g}")
    ax.set(xlabel="step", ylabel="training loss (rolling mean of 5 logs)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def figure_sqmeft_table4(table: pd.DataFrame) -> plt.Figure:
    """Stacked memory breakdown relative to AdamW's total, ours beside the paper's."""
    fig, axes = _new(2)
    parts = ["params", "grads", "states", "activations"]
    for ax, who, unit in ((axes[0], "ours", "MiB"), (axes[1], "paper", "GB")):
        cols = [f"{who}: {p} ({unit})" for p in parts]
        values = table[cols].astype(float)
        total = table.loc[table["method"] == "AdamW", f"{who}: total ({unit})"].astype(float)
        scale = float(total.iloc[0]) if len(total) and pd.notna(total.iloc[0]) else 1.0
        bottom = pd.Series(0.0, index=table.index)
        for col, part in zip(cols, parts, strict=True):
            ax.bar(table["method"], values[col] / scale, bottom=bottom, label=part)
            bottom = bottom + values[col].fillna(0) / scale
        ax.set(title=f"{who}", ylabel="memory / AdamW total")
        ax.tick_params(axis="x", rotation=30)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def figure_sqmeft_table5(curves: pd.DataFrame) -> plt.Figure:
    """Training loss per ablation variant (seed mean)."""
    fig, (ax,) = _new(1, 6.0)
    for variant in _ordered(curves["variant"], SQMEFT_VARIANTS):
        mc = _mean_curve(curves[curves["variant"] == variant], "step")
        ax.plot(mc.index, mc["loss"], label=label(variant))
    ax.set(xlabel="step", ylabel="training loss")
    ax.legend()
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- writing


def _cells(table: pd.DataFrame) -> pd.DataFrame:
    """Every cell as text: numbers with ``g`` formatting, missing values as an em dash."""

    def fmt(v: Any) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "—"
        if isinstance(v, float):
            return f"{v:,.6g}".replace(",", "") if abs(v) < 1e6 else f"{v:.4g}"
        return str(v)

    return table.apply(lambda col: col.map(fmt))


def write_table(table: pd.DataFrame, folder: str | Path, caption: str, stem: str = "table") -> Path:
    """``<stem>.md`` (a caption line and a pipe table) and ``<stem>.tex`` (booktabs) in ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cells = _cells(table)
    md = f"{caption}\n\n{cells.to_markdown(index=False, disable_numparse=True)}\n"
    (folder / f"{stem}.md").write_text(md)
    tex = cells.replace("—", "--").to_latex(
        index=False, escape=True, caption=caption, label=f"tab:{folder.name}"
    )
    (folder / f"{stem}.tex").write_text(tex)
    return folder / f"{stem}.md"


def write_figure(fig: plt.Figure, folder: str | Path, stem: str = "figure") -> Path:
    path = Path(folder) / f"{stem}.png"
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path


# ---------------------------------------------------------------- the artefacts


@dataclass(frozen=True)
class Artefact:
    """What a notebook builds: its caption (with the paper's source) and how."""

    name: str
    caption: str
    build: Callable[[Path], tuple[pd.DataFrame, plt.Figure]]


def _build_table2(folder: Path):
    table = table_absignsgd_table2(load_runs(folder))
    return table, figure_absignsgd_table2(table)


def _build_convergence(folder: Path):
    runs = load_runs(folder)
    curves = load_curves(runs)
    return table_absignsgd_convergence(runs, curves), figure_absignsgd_convergence(curves)


def _build_memory(folder: Path):
    table = table_absignsgd_memory(load_runs(folder))
    return table, figure_absignsgd_memory(table)


def _build_ablation(folder: Path):
    runs = load_runs(folder)
    runs = runs.assign(scheme=runs["cfg.method.selection_scheme"])
    return table_absignsgd_ablation(runs), figure_absignsgd_ablation(load_curves(runs, ["scheme", "seed"]))


def _build_fig1(folder: Path):
    runs = load_runs(folder)
    return table_stosignsgd_fig1(runs), figure_stosignsgd_fig1(load_curves(runs, ["arm", "seed"]))


def _build_finetune(folder: Path):
    runs = load_runs(folder)
    table = table_stosignsgd_finetune(runs)
    return table, figure_stosignsgd_finetune(load_curves(runs), table)


def _build_alias(folder: Path):
    runs = load_runs(folder)
    return table_alias_vs_tuned(runs), figure_alias_vs_tuned(load_curves(runs), runs)


def _build_table4(folder: Path):
    table = table_sqmeft_table4(load_runs(folder))
    return table, figure_sqmeft_table4(table)


def _build_table5(folder: Path):
    runs = load_runs(folder)
    runs = runs.assign(variant=runs["cfg.variant"])
    return table_sqmeft_table5(runs), figure_sqmeft_table5(load_curves(runs, ["variant", "seed"]))


def _caption(name: str, what: str) -> str:
    return f"{what} Paper: {PAPER[name]['source']}."


ARTEFACTS: dict[str, Artefact] = {
    a.name: a
    for a in [
        Artefact(
            "absignsgd_table2",
            _caption(
                "absignsgd_table2",
                "ABSignSGD Table 2: memory and runtime, ours (exact bytes and time on "
                "the tiny CPU model, mean of 2 seeds) beside the paper's; ratios are to ABSignSGD, our "
                "runtime ratio is the median step time's (same steps for every method).",
            ),
            _build_table2,
        ),
        Artefact(
            "absignsgd_convergence",
            _caption(
                "absignsgd_table2",
                "ABSignSGD runtime convergence: final training loss, wall-clock, the "
                "time to reach the worst method's final loss (rolling mean of 5 logs), and the median step "
                "time relative to ABSignSGD's.",
            ),
            _build_convergence,
        ),
        Artefact(
            "absignsgd_memory",
            _caption(
                "absignsgd_memory",
                "ABSignSGD memory: measured bytes per parameter (weights + peak gradients "
                "+ optimizer state, activations excluded) against the formulas.",
            ),
            _build_memory,
        ),
        Artefact(
            "absignsgd_ablation",
            _caption(
                "absignsgd_ablation",
                "ABSignSGD ablation: block selection scheme x update rule, mean over seeds.",
            ),
            _build_ablation,
        ),
        Artefact(
            "stosignsgd_fig1",
            _caption(
                "stosignsgd_fig1",
                "StoSignSGD Figure 1: f(x) = |x1+x2| + 2|x1-x2| from (1, 0.3), lr 0.01, "
                "final f = mean over the last 100 of 1500 iterates.",
            ),
            _build_fig1,
        ),
        Artefact(
            "stosignsgd_finetune",
            _caption(
                "stosignsgd_finetune",
                "StoSignSGD fine-tuning: exact match on the tiny math test split "
                "(mean over seeds) beside the paper's 7B accuracy.",
            ),
            _build_finetune,
        ),
        Artefact(
            "alias_vs_tuned",
            _caption(
                "alias_vs_tuned",
                "ALIAS vs tuned SignSGD: final loss and compute including the lr "
                "search (the grid's summed wall-clock).",
            ),
            _build_alias,
        ),
        Artefact(
            "sqmeft_table4",
            _caption(
                "sqmeft_table4",
                "SQ-MEFT Table IV: exact memory breakdown, ours (tiny model, fp32 "
                "weights, MiB) beside the paper's (LLaMA-7B, GB).",
            ),
            _build_table4,
        ),
        Artefact(
            "sqmeft_table5",
            _caption(
                "sqmeft_table5",
                "SQ-MEFT Table V: ablation of sign descent, EMA and the RMS-scaled step, mean over seeds.",
            ),
            _build_table5,
        ),
    ]
}


def build(name: str, root: str | Path | None = None) -> tuple[pd.DataFrame, Path]:
    """Build artefact ``name`` from ``<root>/<name>/`` and write its table and figure there."""
    artefact = ARTEFACTS[name]
    folder = Path(root if root is not None else results_root()) / name
    table, fig = artefact.build(folder)
    write_table(table, folder, artefact.caption)
    write_figure(fig, folder)
    return table, folder
