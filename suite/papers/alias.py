"""ALIAS: "Sign-SGD via Parameter-Free Optimization" (Medyakov et al., ICLR 2026; arXiv 2506.03725;
code github.com/evseevgrv/SignSGD_GoldenGate).

One artefact: ALIAS, with no learning rate, against SignSGD with its lr and weight decay (knobs
the paper's tuned baseline tunes) tuned under the comparison protocol (``suite-compare``, its
trials a ``suite-search`` study), counting the search in SignSGD's compute.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from suite.papers.claims import Claim, declare
from suite.papers.frames import label, load_runs, new_figure, ordered
from suite.papers.protocol import PROTOCOL, arm_row, tuning_runs, val_curves
from suite.papers.registry import Sweep, artefact

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
ALIAS = "alias_adam"  # the arm the paper's numbers are about: the authors' script (AdamW on the output layer)
ARM_NAMES = {
    ALIAS: "ALIAS (the script's clamp)",
    "alias_no_clamp": "ALIAS (no clamp)",
    "alias_heavy_ball": "ALIAS (heavy ball, the script's clamp)",
    "signsgd": "SignSGD (tuned)",
}
ORDER = list(ARM_NAMES)
TABLE_COLUMNS = ["chosen setting", "trials", "tuning compute (s)", "seeds", "val loss"]


def _clamp(runs: pd.DataFrame) -> str | None:
    c = runs["cfg.method.clamp_level"].iloc[0] if "cfg.method.clamp_level" in runs else None
    if c is None or pd.isna(c):
        return None
    return "none" if c == float("inf") else f"{c:g}"


def with_compute(runs: pd.DataFrame, trials: pd.DataFrame) -> pd.DataFrame:
    """The evaluation runs with ``compute_s``, the training wall-clock it took to get that trained
    model: a run without an lr (ALIAS) its own wall-clock; a tuned run its arm's tuning trials'
    summed wall-clock (the search) plus its own."""
    search = trials.groupby("arm")["wall_clock_s"].sum()
    tuned = runs["arm"].map(lambda arm: not arm.startswith("alias"))
    return runs.assign(compute_s=runs["wall_clock_s"] + runs["arm"].map(search).fillna(0.0).where(tuned, 0.0))


def _row(found: pd.Series, group: pd.DataFrame, alias_compute: float | None) -> dict:
    arm = group["arm"].iloc[0]
    clamped = pd.to_numeric(group[CLAMPED], errors="coerce").mean() if CLAMPED in group else None
    compute = group["compute_s"].mean()
    paper = arm in (ALIAS, "signsgd")
    key = "alias" if arm == ALIAS else "signsgd"
    return {
        "method": ARM_NAMES.get(arm, label(arm)),
        "clamp": _clamp(group) if arm.startswith("alias") else None,
        **found[TABLE_COLUMNS].to_dict(),
        "ours: steps at the clamp": None if clamped is None or pd.isna(clamped) else round(clamped, 3),
        "ours: wall-clock per run (s)": round(group["wall_clock_s"].mean(), 1),
        "ours: compute incl. search (s)": round(compute, 1),
        "ours: compute / ALIAS": round(compute / alias_compute, 2) if alias_compute else None,
        "paper: compute / ALIAS": (SEARCH_SPEEDUP if arm == "signsgd" else 1.0) if paper else None,
        "paper: val loss 130M": VAL_LOSS_130M[key] if paper else None,
        "paper: val loss 350M": VAL_LOSS_350M[key] if paper else None,
    }


def vs_tuned_table(folder: Path, runs: pd.DataFrame) -> pd.DataFrame:
    """ALIAS (no lr: one run at its defaults is its trial; its clamp-free and heavy-ball variants
    likewise) against SignSGD with its lr and weight decay tuned, under the comparison protocol:
    the final validation loss over the evaluation seeds (mean, 95% bootstrap interval), the
    fraction of ALIAS's steps at the clamp (1: the parameter-free rule never set the step size),
    and the compute to a trained model, the search's trials included, against ALIAS's."""
    runs = with_compute(runs, tuning_runs(folder))
    alias_compute = runs.loc[runs["arm"] == ALIAS, "compute_s"].mean()
    rows = []
    for arm in ordered(runs["arm"], ORDER):
        group = runs[runs["arm"] == arm]
        rows.append(_row(arm_row(folder, runs, group), group, alias_compute))
    return pd.DataFrame(rows)


def vs_tuned_figure(runs: pd.DataFrame) -> plt.Figure:
    """Validation loss against step for every arm (mean over the evaluation seeds)."""
    fig, (ax,) = new_figure(1, 6.0)
    curves = val_curves(runs, ("arm", "seed"))
    for arm in ordered(curves["arm"], ORDER):
        mc = curves[curves["arm"] == arm].groupby("step").mean(numeric_only=True)
        style = "-" if arm.startswith("alias") else "--"
        ax.plot(mc.index, mc["loss"], style, marker=".", label=ARM_NAMES.get(arm, arm))
    ax.set(xlabel="step", ylabel="validation loss (mean over seeds)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


@artefact(
    "alias_vs_tuned",
    "ALIAS vs tuned SignSGD under the comparison protocol: SignSGD's lr and weight decay tuned "
    "with 3 trials on the tuning seed (chosen by validation loss), ALIAS (no lr) run once as its "
    "trial, then every arm rerun on the evaluation seeds; final validation loss (mean, 95% "
    "bootstrap interval) and the compute to a trained model including the search. 'ours: steps at "
    "the clamp': the fraction of ALIAS's post-warmup steps whose γ was the clamp (1: the "
    "parameter-free rule never set the step size).",
    SOURCE,
    experiments=[Sweep("alias_vs_tuned", program=PROTOCOL)],
)
def vs_tuned(folder: Path) -> tuple[pd.DataFrame, plt.Figure]:
    """ALIAS against the tuned SignSGD from the comparison in ``folder``."""
    runs = load_runs(folder)
    return vs_tuned_table(folder, runs), vs_tuned_figure(runs)


# ---------------------------------------------------------------- claims


def claim_runs(folder: Path) -> pd.DataFrame:
    """The evaluation runs with ``compute_s`` (:func:`with_compute`)."""
    return with_compute(load_runs(folder), tuning_runs(folder))


declare(
    "alias_vs_tuned",
    [
        Claim(
            id="alias_vs_tuned.loss",
            artefact="alias_vs_tuned",
            statement="ALIAS's final validation loss is within 0.05 of tuned SignSGD's",
            paper=f"{PAPER}: ALIAS is close to grid-searched Sign-SGD (C4 validation loss, "
            "LLaMA-130M: 3.006 vs 2.980; LLaMA-350M: 2.821 vs 2.819)",
            metric="final_val_loss",
            unit="validation loss",
            arm=ALIAS,
            versus=("signsgd",),
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
            arm=ALIAS,
            versus=("signsgd",),
        ),
    ],
    claim_runs,
)
