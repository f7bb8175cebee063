"""ALIAS: "Sign-SGD via Parameter-Free Optimization" (Medyakov et al., ICLR 2026; arXiv 2506.03725;
code github.com/evseevgrv/SignSGD_GoldenGate).

One artefact: ALIAS, with no learning rate, against SignSGD tuned over an lr grid, counting the
grid search in SignSGD's compute.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from suite.papers.frames import load_curves, load_runs, new_figure, smoothed
from suite.papers.registry import artefact

# ---------------------------------------------------------------- the paper's numbers

SOURCE = (
    "ALIAS (Medyakov et al., ICLR'26; arXiv 2506.03725): matches grid-searched Sign-SGD and gives "
    "~1.5x end-to-end speedup by skipping the lr search (grid size unknown)"
)
SEARCH_SPEEDUP = 1.5


# ---------------------------------------------------------------- the table


def _alias_row(alias: pd.DataFrame) -> dict:
    wall = round(alias["wall_clock_s"].mean(), 1)
    return {
        "method": "ALIAS",
        "lr": "none (parameter-free)",
        "ours: final loss": round(alias["final_loss"].mean(), 3),
        "ours: wall-clock (s)": wall,
        "ours: compute incl. search (s)": wall,
        "ours: compute / ALIAS": 1.0,
        "paper: compute / ALIAS": 1.0,
    }


def _grid_row(r: pd.Series) -> dict:
    return {
        "method": "SignSGD",
        "lr": f"{r['cfg.method.lr']:g}",
        "ours: final loss": round(r["final_loss"], 3),
        "ours: wall-clock (s)": round(r["wall_clock_s"], 1),
        "ours: compute incl. search (s)": None,
        "ours: compute / ALIAS": None,
        "paper: compute / ALIAS": None,
    }


def _tuned_row(grid: pd.DataFrame, alias_wall: float | None) -> dict:
    best = grid.loc[grid["final_loss"].idxmin()]
    search = grid["wall_clock_s"].sum()
    return {
        "method": "SignSGD tuned (best of grid)",
        "lr": f"{best['cfg.method.lr']:g}",
        "ours: final loss": round(best["final_loss"], 3),
        "ours: wall-clock (s)": round(best["wall_clock_s"], 1),
        "ours: compute incl. search (s)": round(search, 1),
        "ours: compute / ALIAS": round(search / alias_wall, 2) if alias_wall is not None else None,
        "paper: compute / ALIAS": SEARCH_SPEEDUP,
    }


def vs_tuned_table(runs: pd.DataFrame) -> pd.DataFrame:
    """ALIAS (no lr) vs SignSGD over an lr grid: each run's final loss and wall-clock, then the
    tuned SignSGD (best final loss of the grid) with the whole search's compute."""
    alias = runs[runs["arm"] == "alias"]
    grid = runs[runs["arm"] == "signsgd"].sort_values("cfg.method.lr", kind="stable")
    rows = [_alias_row(alias)] if len(alias) else []
    rows += [_grid_row(r) for _, r in grid.iterrows()]
    if len(grid):
        rows.append(_tuned_row(grid, alias["wall_clock_s"].mean() if len(alias) else None))
    return pd.DataFrame(rows)


def vs_tuned_figure(curves: pd.DataFrame, runs: pd.DataFrame) -> plt.Figure:
    """Loss curves of ALIAS and of every lr of the SignSGD grid."""
    fig, (ax,) = new_figure(1, 6.0)
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


@artefact(
    "alias_vs_tuned",
    "ALIAS vs tuned SignSGD: final loss and compute including the lr search (the grid's summed wall-clock).",
    SOURCE,
)
def vs_tuned(folder: Path) -> tuple[pd.DataFrame, plt.Figure]:
    """ALIAS against the tuned SignSGD from the runs in ``folder`` (ALIAS and the lr grid)."""
    runs = load_runs(folder)
    return vs_tuned_table(runs), vs_tuned_figure(load_curves(runs), runs)
