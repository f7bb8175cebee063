"""ALIAS: "Sign-SGD via Parameter-Free Optimization" (Medyakov et al., ICLR 2026; arXiv 2506.03725;
code github.com/evseevgrv/SignSGD_GoldenGate).

Two artefacts: ALIAS, with no learning rate, against SignSGD tuned over a grid of lr, weight decay
and schedule (the knobs the paper's tuned baseline tunes), counting the search in SignSGD's compute;
and against SignSGD tuned by an Optuna lr search (``suite-search``), counting every trial.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from suite.papers.claims import Claim, declare
from suite.papers.frames import load_curves, load_runs, new_figure, smoothed
from suite.papers.registry import Sweep, artefact
from suite.search.table import run_record, trials_frame
from suite.search.trials import TRAINED
from suite.track.store import read_summaries

# ---------------------------------------------------------------- the paper's numbers

PAPER = "ALIAS (Medyakov et al., ICLR'26; arXiv 2506.03725)"
SOURCE = (
    "ALIAS (Medyakov et al., ICLR'26; arXiv 2506.03725): close to grid-searched Sign-SGD (tuned lr, "
    "weight decay and cosine schedule) and ~1.5x end-to-end speedup by skipping the search (grid size "
    "unknown); C4 validation loss, LLaMA-130M: tuned Sign-SGD 2.980, ALIAS 3.006, AdamW 2.929; "
    "LLaMA-350M: tuned Sign-SGD 2.819, ALIAS 2.821"
)
SEARCH_SPEEDUP = 1.5
VAL_LOSS_130M = {"alias": 3.006, "signsgd": 2.980, "adamw": 2.929}
VAL_LOSS_350M = {"alias": 2.821, "signsgd": 2.819}


# ---------------------------------------------------------------- the table


CLAMPED = "alias/clamped_fraction"  # summary key: the fraction of post-warmup steps at the clamp
ARM_NAMES = {
    "script": "the script's clamp",
    "no_clamp": "no clamp",
    "heavy_ball": "heavy ball, the script's clamp",
}


def _variant(r: pd.Series) -> str | None:
    v = r.get("cfg.variant")
    return v if isinstance(v, str) else None


def _clamp(r: pd.Series) -> str | None:
    c = r.get("cfg.method.clamp_level")
    if c is None or pd.isna(c):
        return None
    return "none" if c == float("inf") else f"{c:g}"


def _alias_row(r: pd.Series) -> dict:
    """One ALIAS run: its arm, clamp and the fraction of its steps at the clamp (1: the
    parameter-free rule never set the step size)."""
    variant = _variant(r)
    paper = variant in (None, "script")  # the paper's numbers are the script's run
    wall = round(r["wall_clock_s"], 1)
    clamped = r.get(CLAMPED)
    return {
        "method": f"ALIAS ({ARM_NAMES.get(variant, variant)})" if variant else "ALIAS",
        "lr": "none (parameter-free)",
        "weight decay": r.get("cfg.method.weight_decay"),
        "schedule": "warmup, then γ",
        "clamp": _clamp(r),
        "ours: steps at the clamp": None if clamped is None or pd.isna(clamped) else round(clamped, 3),
        "ours: final loss": round(r["final_loss"], 3),
        "ours: wall-clock (s)": wall,
        "ours: compute incl. search (s)": wall,
        "ours: compute / ALIAS": 1.0,
        "paper: compute / ALIAS": 1.0 if paper else None,
        "paper: val loss 130M": VAL_LOSS_130M["alias"] if paper else None,
        "paper: val loss 350M": VAL_LOSS_350M["alias"] if paper else None,
    }


def _first(runs: pd.DataFrame, column: str):
    """The column's first value (None when the runs do not record it)."""
    return runs[column].iloc[0] if column in runs and len(runs) else None


def _knobs(r: pd.Series) -> dict:
    """The tuned knobs of one grid run: lr, weight decay, schedule."""
    return {
        "lr": f"{r['cfg.method.lr']:g}",
        "weight decay": r.get("cfg.method.weight_decay"),
        "schedule": r.get("cfg.train.lr_scheduler"),
    }


def _grid_row(r: pd.Series) -> dict:
    return {
        "method": "SignSGD",
        **_knobs(r),
        "clamp": None,
        "ours: steps at the clamp": None,
        "ours: final loss": round(r["final_loss"], 3),
        "ours: wall-clock (s)": round(r["wall_clock_s"], 1),
        "ours: compute incl. search (s)": None,
        "ours: compute / ALIAS": None,
        "paper: compute / ALIAS": None,
        "paper: val loss 130M": None,
        "paper: val loss 350M": None,
    }


def _tuned_row(grid: pd.DataFrame, alias_wall: float | None) -> dict:
    best = grid.loc[grid["final_loss"].idxmin()]
    search = grid["wall_clock_s"].sum()
    return {
        "method": "SignSGD tuned (best of grid)",
        **_knobs(best),
        "clamp": None,
        "ours: steps at the clamp": None,
        "ours: final loss": round(best["final_loss"], 3),
        "ours: wall-clock (s)": round(best["wall_clock_s"], 1),
        "ours: compute incl. search (s)": round(search, 1),
        "ours: compute / ALIAS": round(search / alias_wall, 2) if alias_wall is not None else None,
        "paper: compute / ALIAS": SEARCH_SPEEDUP,
        "paper: val loss 130M": VAL_LOSS_130M["signsgd"],
        "paper: val loss 350M": VAL_LOSS_350M["signsgd"],
    }


def vs_tuned_table(runs: pd.DataFrame) -> pd.DataFrame:
    """ALIAS (no lr; one row per arm, with its clamp and the fraction of its steps at the clamp) vs
    SignSGD over its grid (lr x weight decay x schedule): each run's final loss and wall-clock,
    then the tuned SignSGD (best final loss of the grid) with the whole search's compute against
    ALIAS's mean wall-clock, and the paper's validation losses beside the script's ALIAS and the
    tuned row."""
    alias = runs[runs["arm"].str.startswith("alias")]
    alias = alias.assign(
        _order=[
            list(ARM_NAMES).index(v) if v in ARM_NAMES else len(ARM_NAMES)
            for v in alias.get("cfg.variant", pd.Series([None] * len(alias), index=alias.index))
        ]
    )
    alias = alias.sort_values("_order", kind="stable")
    knobs = [c for c in ("cfg.method.lr", "cfg.method.weight_decay", "cfg.train.lr_scheduler") if c in runs]
    grid = runs[runs["arm"] == "signsgd"].sort_values(knobs, kind="stable")
    rows = [_alias_row(r) for _, r in alias.iterrows()]
    rows += [_grid_row(r) for _, r in grid.iterrows()]
    if len(grid):
        rows.append(_tuned_row(grid, alias["wall_clock_s"].mean() if len(alias) else None))
    return pd.DataFrame(rows)


def vs_tuned_figure(curves: pd.DataFrame, runs: pd.DataFrame) -> plt.Figure:
    """Loss curves of ALIAS and of every lr of the SignSGD grid."""
    fig, (ax,) = new_figure(1, 6.0)
    names = {
        r["run_dir"]: ", ".join(f"{v}" for v in _knobs(r).values() if v is not None)
        for _, r in runs.iterrows()
        if r["arm"] != "alias"
    }
    styles = iter(["k-", "k--", "k:", "k-."] * 4)
    for run_dir, c in curves.groupby("run_dir", sort=False):
        if c["arm"].iloc[0].startswith("alias"):
            variant = _variant(runs.set_index("run_dir").loc[run_dir])
            label = f"ALIAS ({ARM_NAMES.get(variant, variant)})" if variant else "ALIAS (no lr)"
            ax.plot(c["step"], smoothed(c), next(styles), lw=2, label=label)
        else:
            ax.plot(c["step"], smoothed(c), lw=1, label=f"SignSGD {names[run_dir]}")
    ax.set(xlabel="step", ylabel="training loss (rolling mean of 5 logs)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


@artefact(
    "alias_vs_tuned",
    "ALIAS vs tuned SignSGD: final loss and compute including the lr search (the grid's summed "
    "wall-clock). 'ours: steps at the clamp': the fraction of ALIAS's post-warmup steps whose γ was "
    "the clamp (1: the parameter-free rule never set the step size).",
    SOURCE,
    experiments=["alias_vs_tuned", "alias_vs_tuned_grid"],
)
def vs_tuned(folder: Path) -> tuple[pd.DataFrame, plt.Figure]:
    """ALIAS against the tuned SignSGD from the runs in ``folder`` (ALIAS and the lr grid)."""
    runs = load_runs(folder)
    return vs_tuned_table(runs), vs_tuned_figure(load_curves(runs), runs)


# ---------------------------------------------------------------- against an lr search


def _search_row(method: str, lr: str, loss: float, wall: float, compute=None, ratio=None, paper=None) -> dict:
    return {
        "method": method,
        "lr": lr,
        "ours: final loss": round(loss, 3),
        "ours: wall-clock (s)": round(wall, 1),
        "ours: compute incl. search (s)": None if compute is None else round(compute, 1),
        "ours: compute / ALIAS": None if ratio is None else round(ratio, 2),
        "paper: compute / ALIAS": paper,
    }


def vs_search_table(alias: dict | None, trials: pd.DataFrame) -> pd.DataFrame:
    """ALIAS's run, every trial, then the tuned SignSGD (the study's best trial by its own metric)
    with the whole search's compute: every trial's wall-clock, failed ones included."""
    rows, alias_wall = [], None
    if alias is not None:
        alias_wall = alias["wall_clock_s"]
        rows.append(
            _search_row("ALIAS", "none (parameter-free)", alias["final_loss"], alias_wall, alias_wall, 1, 1)
        )
    for _, t in trials.sort_values("trial").iterrows():
        name = f"SignSGD trial {t['trial']} ({t['state'].lower()})"
        rows.append(_search_row(name, f"{t['lr']:.3g}", t["final_loss"], t["wall_clock_s"]))
    search = float(trials["wall_clock_s"].sum())
    best = trials[trials["best"]]
    if len(best):
        b, name = best.iloc[0], f"SignSGD tuned (best of {len(trials)} trials)"
        ratio = search / alias_wall if alias_wall else None
        loss, wall = b["final_loss"], b["wall_clock_s"]
        rows.append(_search_row(name, f"{b['lr']:.3g}", loss, wall, search, ratio, SEARCH_SPEEDUP))
    return pd.DataFrame(rows)


def vs_search_figure(alias: dict | None, trials: pd.DataFrame) -> plt.Figure:
    """Each trial's final loss against its lr beside ALIAS's, and the compute: ALIAS's one run
    against the search's trials stacked."""
    fig, (ax1, ax2) = new_figure(2)
    done = trials.sort_values("lr")
    ax1.plot(done["lr"], done["final_loss"], "o-", label="SignSGD trials")
    best = trials[trials["best"]]
    ax1.plot(best["lr"], best["final_loss"], "r*", ms=12, label="tuned (best trial)")
    if alias is not None:
        ax1.axhline(alias["final_loss"], color="k", label="ALIAS (no lr)")
    ax1.set(xscale="log", xlabel="SignSGD lr", ylabel="final training loss")
    ax1.legend(fontsize=7)
    bottom = 0.0
    for _, t in trials.sort_values("trial").iterrows():
        ax2.bar(1, t["wall_clock_s"], bottom=bottom, color="C0", edgecolor="w")
        bottom += t["wall_clock_s"]
    if alias is not None:
        ax2.bar(0, alias["wall_clock_s"], color="k")
    ax2.set_xticks([0, 1], ["ALIAS", f"SignSGD search ({len(trials)} trials)"])
    ax2.set_ylabel("training wall-clock (s)")
    fig.tight_layout()
    return fig


def alias_record(folder: Path) -> dict | None:
    """The seed-mean final loss and wall-clock of the ALIAS runs in ``folder`` that trained to the
    end, if any."""
    alias = [s for s in read_summaries(folder) if s["method"].startswith("alias") and s["status"] in TRAINED]
    runs = [run_record(Path(s["run_dir"])) for s in alias]
    if not runs:
        return None
    return {key: sum(r[key] for r in runs) / len(runs) for key in ("final_loss", "wall_clock_s")}


@artefact(
    "alias_vs_search",
    "ALIAS vs SignSGD tuned by an Optuna lr search: each trial's final loss and training wall-clock; "
    "the tuned row is the study's best trial (by the last step's training loss), its compute the sum "
    "over every trial.",
    SOURCE,
    experiments=[  # ALIAS's run of alias_vs_tuned in this folder, then the search
        Sweep("alias_vs_tuned", overrides=("variant=script", "experiment_name=alias_vs_search")),
        Sweep("alias_vs_search", program="suite-search"),
    ],
)
def vs_search(folder: Path) -> tuple[pd.DataFrame, plt.Figure]:
    """ALIAS against the SignSGD of the one study (``*.journal``) in ``folder``, and its ALIAS runs."""
    journals = sorted(folder.glob("*.journal"))
    if len(journals) != 1:
        raise FileNotFoundError(f"{len(journals)} studies (*.journal) in {folder}; the table compares one")
    alias, trials = alias_record(folder), trials_frame(journals[0])
    return vs_search_table(alias, trials), vs_search_figure(alias, trials)


# ---------------------------------------------------------------- claims

KNOBS = ("cfg.method.lr", "cfg.method.weight_decay", "cfg.train.lr_scheduler")


def claim_runs(folder: Path) -> pd.DataFrame:
    """The runs with the tuned SignSGD's (the grid point with the lowest mean final loss) named
    ``signsgd_tuned``, the ALIAS run the paper's claims are about (the script's arm) named
    ``alias``, and ``compute_s``: ALIAS's wall-clock, or for the tuned SignSGD the summed
    wall-clock of its seed's whole grid."""
    runs = load_runs(folder)
    variant = runs["cfg.variant"] if "cfg.variant" in runs else pd.Series(None, index=runs.index)
    script = runs["arm"].str.startswith("alias") & variant.isin(["script"]) | (runs["arm"] == "alias")
    runs.loc[script, "arm"] = "alias"
    grid = runs[runs["arm"] == "signsgd"]
    if grid.empty:
        return runs.assign(compute_s=runs["wall_clock_s"])
    knobs = [k for k in KNOBS if k in grid]
    best = grid.groupby(knobs, dropna=False)["final_loss"].mean().idxmin()
    best = best if isinstance(best, tuple) else (best,)
    tuned = (grid[knobs].astype(object) == pd.Series(best, index=knobs, dtype=object)).all(axis=1)
    search = grid.groupby("seed")["wall_clock_s"].sum()
    runs = runs.assign(compute_s=runs["wall_clock_s"])
    runs.loc[tuned[tuned].index, "arm"] = "signsgd_tuned"
    runs.loc[tuned[tuned].index, "compute_s"] = runs.loc[tuned[tuned].index, "seed"].map(search)
    return runs


declare(
    "alias_vs_tuned",
    [
        Claim(
            id="alias_vs_tuned.loss",
            artefact="alias_vs_tuned",
            statement="ALIAS's final loss is within 0.05 of tuned SignSGD's",
            paper=f"{PAPER}: ALIAS is close to grid-searched Sign-SGD (C4 validation loss, "
            "LLaMA-130M: 3.006 vs 2.980; LLaMA-350M: 2.821 vs 2.819)",
            metric="final_loss",
            unit="training loss",
            arm="alias",
            versus=("signsgd_tuned",),
            direction="within",
            tolerance=0.05,
        ),
        Claim(
            id="alias_vs_tuned.compute",
            artefact="alias_vs_tuned",
            statement="ALIAS costs less compute than tuned SignSGD with its search",
            paper=f"{PAPER}: ~1.5x end-to-end speedup by skipping the learning-rate search",
            metric="compute_s",
            unit="s",
            arm="alias",
            versus=("signsgd_tuned",),
        ),
    ],
    claim_runs,
)


def search_claim_runs(folder: Path) -> pd.DataFrame:
    """The runs with the study's best trial named ``signsgd_tuned``, and ``compute_s``: ALIAS's
    wall-clock, or for the tuned SignSGD every trial's wall-clock summed (the table's compute)."""
    runs = load_runs(folder)
    runs = runs.assign(compute_s=runs["wall_clock_s"])
    journals = sorted(folder.glob("*.journal"))
    trials = trials_frame(journals[0]) if len(journals) == 1 else pd.DataFrame({"best": []})
    best = trials[trials["best"]]
    if best.empty:
        return runs
    tuned = runs["run_dir"].map(lambda d: Path(d).name) == best["run_name"].iloc[0]
    runs.loc[tuned, "arm"] = "signsgd_tuned"
    runs.loc[tuned, "compute_s"] = float(trials["wall_clock_s"].sum())
    return runs


declare(
    "alias_vs_search",
    [
        Claim(
            id="alias_vs_search.loss",
            artefact="alias_vs_search",
            statement="ALIAS's final loss is within 0.05 of SignSGD tuned by an lr search",
            paper=f"{PAPER}: ALIAS is close to Sign-SGD with a tuned learning rate (C4 validation "
            "loss, LLaMA-130M: 3.006 vs 2.980; LLaMA-350M: 2.821 vs 2.819)",
            metric="final_loss",
            unit="training loss",
            arm="alias",
            versus=("signsgd_tuned",),
            direction="within",
            tolerance=0.05,
        ),
        Claim(
            id="alias_vs_search.compute",
            artefact="alias_vs_search",
            statement="ALIAS costs less compute than SignSGD with its lr search",
            paper=f"{PAPER}: ~1.5x end-to-end speedup by skipping the learning-rate search",
            metric="compute_s",
            unit="s",
            arm="alias",
            versus=("signsgd_tuned",),
        ),
    ],
    search_claim_runs,
)
