"""StoSignSGD (arXiv 2604.15416): sign descent with a stochastic dither, sign(g + G ⊙ n).

Two artefacts: Figure 1 (SignSGD against StoSignSGD on a convex non-smooth function, run by
``suite.toy``) and the 7B math fine-tuning table (AdamW / SignSGD / StoSignSGD exact match).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from suite.papers.claims import N_RESAMPLES, Claim, declare
from suite.papers.frames import label, load_curves, load_runs, mean_curve, new_figure, ordered
from suite.papers.protocol import PROTOCOL, interval, protocol_table
from suite.papers.registry import Sweep, artefact

PAPER = "StoSignSGD (arXiv 2604.15416v1, 2026-04-16)"

# ---------------------------------------------------------------- the paper's numbers

FIG1_SOURCE = (
    f"{PAPER} Fig. 1: f = |x1+x2| + 2|x1-x2|; SignSGD fails to converge, StoSignSGD converges "
    "(the figure shows curves, no numbers)"
)
FIG1_OUTCOME = {"signsgd": "does not converge", "stosignsgd": "converges"}

FINETUNE_SOURCE = (
    f"{PAPER} 7B math fine-tuning table (v1's numbers; a v2 of 2026-08-27 exists), AdamW / SignSGD / "
    "StoSignSGD (the table does not name "
    "its base model; the paper fine-tunes Qwen2.5-7B, Llama-3.1-8B and Mistral-7B-v0.1); "
    "the paper's SignSGD is Alg. 5 with beta1 shared with StoSignSGD, our Signum row"
)
GSM8K_ACCURACY = {"adamw": 74.37, "signum": 71.95, "stosignsgd": 77.33}
MATH_ACCURACY = {"adamw": 48.86, "signum": 47.66, "stosignsgd": 48.88}
FINETUNE_ORDER = ["adamw", "signsgd", "signum", "stosignsgd"]
FINETUNE_NAMES = {"signsgd": "SignSGD (beta 0)", "signum": "SignSGD (Signum, beta 0.9)"}
# The paper's MATH column as the runs' lm-eval task: minerva_math at paper scale, the synthetic
# test split (suite_math) at tiny scale.
MATH_KEYS = ("lm_eval_minerva_math_exact_match", "lm_eval_suite_math_exact_match")


# ---------------------------------------------------------------- Figure 1


def fig1_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Figure 1 as numbers: f at the start and the mean f over the last iterates, per optimizer."""
    rows = []
    for arm in ordered(runs["arm"], ["signsgd", "stosignsgd"]):
        s = runs[runs["arm"] == arm]
        rows.append(
            {
                "optimizer": label(arm),
                "beta1": float(s["beta1"].iloc[0]),
                "seeds": len(s),
                "f(x0)": round(s["initial_value"].mean(), 3),
                "ours: final f (mean)": round(s["final_train_loss"].mean(), 4),
                "ours: final f (worst seed)": round(s["final_train_loss"].max(), 4),
                "paper (Fig. 1)": FIG1_OUTCOME.get(arm),
            }
        )
    return pd.DataFrame(rows)


def fig1_figure(curves: pd.DataFrame) -> plt.Figure:
    """f(x_t) against t, every seed (SignSGD is deterministic), and the iterates in the plane."""
    fig, (ax1, ax2) = new_figure(2)
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


@artefact(
    "stosignsgd_fig1",
    "StoSignSGD Figure 1: f(x) = |x1+x2| + 2|x1-x2| from (1, 0.3), lr 0.01, final f = mean over the "
    "last 100 of 1500 iterates.",
    FIG1_SOURCE,
    experiments=[Sweep("stosignsgd_fig1", program="python -m suite.toy -m")],  # not an LLM job
)
def fig1(folder: Path) -> tuple[pd.DataFrame, plt.Figure]:
    """Figure 1 from the toy runs in ``folder``."""
    runs = load_runs(folder)
    return fig1_table(runs), fig1_figure(load_curves(runs, ["arm", "seed"]))


# ---------------------------------------------------------------- fine-tuning


PROTOCOL_COLUMNS = [  # of suite.compare.report.table, in this order
    "workload",
    "chosen setting",
    "trials",
    "tuning compute (s)",
    "seeds",
    "exact match (%)",
    "EM s.e. per run (pts)",
    "val loss",
]


def math_task(runs: pd.DataFrame) -> pd.Series | None:
    """The runs' MATH-column metric (:data:`MATH_KEYS`, the first one present), or None."""
    key = next((k for k in MATH_KEYS if k in runs), None)
    return None if key is None else runs[key]


def finetune_table(folder: Path, runs: pd.DataFrame) -> pd.DataFrame:
    """Per method, tuned alike and rerun on the evaluation seeds: exact match on the math test
    split, the lm-eval MATH task where the runs have it, and validation loss (means, 95% bootstrap
    intervals), the chosen setting and its tuning budget and compute, beside the paper's GSM8k and
    MATH accuracy."""
    found = protocol_table(folder, runs).set_index("arm")
    math = math_task(runs)
    rows = []
    for arm in ordered(found.index, FINETUNE_ORDER):
        seeds = runs["arm"] == arm
        rows.append(
            {
                "method": FINETUNE_NAMES.get(arm, label(arm)),
                **found.loc[arm, PROTOCOL_COLUMNS].to_dict(),
                "ours: MATH task (%)": None if math is None else interval(math[seeds], N_RESAMPLES, 100.0, 1),
                "paper: GSM8k (%)": GSM8K_ACCURACY.get(arm),
                "paper: MATH (%)": MATH_ACCURACY.get(arm),
            }
        )
    return pd.DataFrame(rows)


def finetune_figure(curves: pd.DataFrame, runs: pd.DataFrame) -> plt.Figure:
    """Training loss per method (mean over the evaluation seeds) and exact match (mean and each
    seed), ours beside the paper's GSM8k."""
    fig, (ax1, ax2) = new_figure(2)
    arms = ordered(runs["arm"], FINETUNE_ORDER)
    for arm in arms:
        mc = mean_curve(curves[curves["arm"] == arm], "step")
        ax1.plot(mc.index, mc["loss"], label=label(arm))
    ax1.set(xlabel="step", ylabel="training loss")
    ax1.legend()
    for i, arm in enumerate(arms):
        em = 100 * runs.loc[runs["arm"] == arm, "eval_exact_match"]
        ax2.bar(i - 0.2, em.mean(), 0.4, color="C0", label="ours (tiny, synthetic)" if i == 0 else None)
        ax2.plot([i - 0.2] * len(em), em, "k.", ms=3)
        paper = GSM8K_ACCURACY.get(arm)
        if paper is not None:
            ax2.bar(i + 0.2, paper, 0.4, color="C1", label="paper (7B, GSM8k)" if i == 0 else None)
    ax2.set_xticks(range(len(arms)), [FINETUNE_NAMES.get(a, label(a)) for a in arms], rotation=20, fontsize=7)
    ax2.set_ylabel("exact match (%)")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return fig


@artefact(
    "stosignsgd_finetune",
    "StoSignSGD fine-tuning: under the comparison protocol, every method's lr (and AdamW's weight "
    "decay) tuned with the same number of trials on the tuning seed, chosen by validation loss, "
    "then rerun on evaluation seeds disjoint from it; exact match on the math test split and "
    "validation loss as means with 95% bootstrap intervals over those seeds, with each method's "
    "tuning compute, beside the paper's 7B accuracy.",
    FINETUNE_SOURCE,
    experiments=[Sweep("stosignsgd_finetune", program=PROTOCOL)],
)
def finetune(folder: Path) -> tuple[pd.DataFrame, plt.Figure]:
    """The fine-tuning table from the comparison in ``folder`` (AdamW, SignSGD, Signum,
    StoSignSGD: ``suite-compare`` with Signum as an arm of SignSGD)."""
    runs = load_runs(folder)
    return finetune_table(folder, runs), finetune_figure(load_curves(runs), runs)


# ---------------------------------------------------------------- claims

declare(
    "stosignsgd_fig1",
    [
        Claim(
            id="stosignsgd_fig1.converges",
            artefact="stosignsgd_fig1",
            statement="StoSignSGD ends lower than SignSGD on Figure 1's function",
            paper=f"{PAPER} Fig. 1: on f = |x1+x2| + 2|x1-x2| SignSGD fails to converge, StoSignSGD "
            "converges",
            metric="final_train_loss",
            unit="f",
            arm="stosignsgd",
            versus=("signsgd",),
        )
    ],
)

declare(
    "stosignsgd_finetune",
    [
        Claim(
            id=f"stosignsgd_finetune.vs_{rival}",
            artefact="stosignsgd_finetune",
            statement=f"StoSignSGD's exact match exceeds {label(rival)}'s",
            paper=f"{PAPER} 7B math fine-tuning table: StoSignSGD {GSM8K_ACCURACY['stosignsgd']} on GSM8k "
            f"and {MATH_ACCURACY['stosignsgd']} on MATH, {label(rival)} {GSM8K_ACCURACY[rival]} and "
            f"{MATH_ACCURACY[rival]}",
            metric="eval_exact_match",
            unit="points",
            scale=100.0,
            arm="stosignsgd",
            versus=(rival,),
            direction="higher",
        )
        for rival in ("signum", "adamw")
    ],
)
