"""ALIAS: "Sign-SGD via Parameter-Free Optimization" (Medyakov et al., ICLR 2026; arXiv 2506.03725;
code github.com/evseevgrv/SignSGD_GoldenGate).

One artefact: ALIAS, with no learning rate, against SignSGD tuned over a grid of lr, weight decay
and schedule (the knobs the paper's tuned baseline tunes), counting the search in SignSGD's compute.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from suite.papers.frames import load_curves, load_runs, new_figure, smoothed
from suite.papers.registry import artefact

# ---------------------------------------------------------------- the paper's numbers

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
)
def vs_tuned(folder: Path) -> tuple[pd.DataFrame, plt.Figure]:
    """ALIAS against the tuned SignSGD from the runs in ``folder`` (ALIAS and the lr grid)."""
    runs = load_runs(folder)
    return vs_tuned_table(runs), vs_tuned_figure(load_curves(runs), runs)
