"""The results store as pandas tables, and the files an artefact writes beside its runs.

``load_runs`` reads every run below an artefact's folder (``results/<artefact>/``) into one
DataFrame: the ``summary.json`` fields, the resolved config flattened as ``cfg.*`` columns, the
table's name for the method (``arm``) and ``final_loss``; ``load_curves`` reads the runs'
``metrics.jsonl``. The small helpers below order, average and label rows for the paper modules,
and ``write_table`` / ``write_figure`` put ``table.md``, ``table.tex`` and ``figure.png`` there.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from suite import traits  # noqa: E402
from suite.track.store import read_metrics, read_summaries  # noqa: E402

log = logging.getLogger(__name__)

MIB = 2**20
GIB = 2**30
FINAL_LOGS = 5  # final_loss = mean training loss of the last FINAL_LOGS logged steps

# The tables' names for what is not a method (a method's name is its YAML's traits.label): arms
# derived from a method's settings (SGDM; Signum, StoSignSGD arXiv 2604.15416, Alg. 5; SignSGD at
# its searched lr, alias.py; a pure-bf16 recipe's second arm at fp32 masters), data sets,
# ABSignSGD's selection schemes, SQ-MEFT's Table V variants.
NOT_METHODS = {
    "galore_layerwise_fp32": "GaLore (layerwise), fp32 masters",
    "apollo_layerwise_fp32": "APOLLO (layerwise), fp32 masters",
    "sgdm": "SGDM",
    "signum": "Signum",
    "signsgd_tuned": "tuned SignSGD",
    "synthetic_math": "synthetic math",
    "gsm8k": "GSM8K",
    "depth_biased": "depth-biased",
    "full": "SQ-MEFT (full)",
    "no_ema": "no EMA",
    "no_rms": "no RMS",
    "no_sign": "no sign",
}
MOMENTUM_ARMS = {"sgd": "sgdm", "signsgd": "signum"}  # the method's arm when its momentum is > 0


def label(key: str) -> str:
    """The name a table or legend shows for a method (its ``traits.label``, suite/traits.py), an
    arm, a data set or a variant; else the key itself."""
    return NOT_METHODS.get(key) or traits.label(key) or key


# ---------------------------------------------------------------- where the runs are


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


# The runs of a comparison (suite-compare: <results_dir>/compare/<name>/<workload>/<run>): its
# evaluation runs are named ``<arm>-eval-seed<n>`` (suite.compare.protocol.eval_name); its tuning
# trials are not results and are left out.
PROTOCOL_FOLDER = "compare"
PROTOCOL_EVAL_RUN = re.compile(r"(?P<arm>.+)-eval-seed\d+")


def in_comparison(run_dir: str | Path | None) -> bool:
    """Whether the run folder is one of a comparison's runs."""
    parents = Path(run_dir).parents if run_dir else ()
    return len(parents) > 2 and parents[2].name == PROTOCOL_FOLDER


def protocol_arm(row: dict[str, Any]) -> str | None:
    """A comparison's run: the arm of an evaluation run, "" for a tuning trial; None otherwise."""
    if not in_comparison(row.get("run_dir")):
        return None
    found = PROTOCOL_EVAL_RUN.fullmatch(str(row.get("run_name")))
    return found["arm"] if found else ""


def arm_of(row: dict[str, Any]) -> str:
    """The method as the tables name it: a comparison's arm; SGD/SignSGD with momentum are
    SGDM/Signum; a run at ``precision=fp32_masters`` (the second arm of a recipe that runs pure
    bf16) gets ``_fp32``."""
    arm = protocol_arm(row)
    if arm:
        return arm
    method = row.get("method")
    if method in MOMENTUM_ARMS and (row.get("cfg.method.momentum") or 0) > 0:
        method = MOMENTUM_ARMS[method]
    return f"{method}_fp32" if row.get("cfg.precision") == "fp32_masters" else method


def load_runs(folder: str | Path) -> pd.DataFrame:
    """One row per run below ``folder`` (failed runs dropped): the summary, ``cfg.*`` columns,
    ``arm`` (see :func:`arm_of`) and ``final_loss`` (mean of the last logged training losses);
    a comparison's tuning trials are left out (its evaluation runs are the results)."""
    rows = []
    for summary in read_summaries(folder):
        if summary.get("status") == "failed" or protocol_arm(summary) == "":
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


# ---------------------------------------------------------------- table helpers


def ordered(keys: Iterable[str], order: list[str]) -> list[str]:
    """The distinct ``keys`` in ``order``, then any others alphabetically."""
    present = list(dict.fromkeys(keys))
    return [k for k in order if k in present] + sorted(k for k in present if k not in order)


def mean_by(runs: pd.DataFrame, by: str | list[str], cols: list[str]) -> pd.DataFrame:
    """Per group, the mean of ``cols`` (non-numbers as NaN) and the number of runs (``seeds``)."""
    numeric = runs.assign(**{c: pd.to_numeric(runs[c], errors="coerce") for c in cols})
    grouped = numeric.groupby(by, sort=False)
    out = grouped[cols].mean()
    out["seeds"] = grouped.size()
    return out


def sd(values: pd.Series) -> float:
    """Sample standard deviation; NaN for a single value."""
    return float(values.std(ddof=1)) if len(values) > 1 else math.nan


def flag(runs: pd.DataFrame, column: str, default: Any) -> pd.Series:
    """``column`` with missing values (or the whole column, when absent) set to ``default``."""
    return runs[column].fillna(default) if column in runs else pd.Series(default, index=runs.index)


def ordering(table: pd.DataFrame, column: str, name: str = "method", descending: bool = False) -> list[str]:
    """Rows' names sorted by ``column`` (ascending unless ``descending``), missing values dropped."""
    rows = table.dropna(subset=[column])
    return rows.sort_values(column, kind="stable", ascending=not descending)[name].tolist()


def tick(on: bool) -> str:
    return "yes" if on else "no"


def smoothed(curve: pd.DataFrame, window: int = FINAL_LOGS) -> pd.Series:
    """The training loss as a trailing rolling mean of ``window`` logs."""
    return curve["loss"].rolling(window, min_periods=1).mean()


# ---------------------------------------------------------------- figure helpers


def new_figure(ncols: int = 1, width: float = 5.0) -> tuple[plt.Figure, list[plt.Axes]]:
    """A row of ``ncols`` panels, each ``width`` inches wide."""
    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, 3.8), squeeze=False)
    return fig, list(axes[0])


def mean_curve(curves: pd.DataFrame, x: str) -> pd.DataFrame:
    """Seed-mean of the smoothed loss against ``x`` (steps align across seeds; wall-clock is averaged)."""
    parts = []
    for _, c in curves.groupby("run_dir", sort=False):
        parts.append(c.assign(smooth=smoothed(c).to_numpy()))
    both = pd.concat(parts)
    return both.groupby("step", sort=True).agg(loss=("smooth", "mean"), x=(x, "mean"))


# ---------------------------------------------------------------- writing


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if isinstance(v, float):
        return f"{v:,.6g}".replace(",", "") if abs(v) < 1e6 else f"{v:.4g}"
    return str(v)


def table_cells(table: pd.DataFrame) -> pd.DataFrame:
    """Every cell as text: numbers with ``g`` formatting, missing values as an em dash."""
    return table.apply(lambda col: col.map(_cell))


def mark_seed_counts(table: pd.DataFrame) -> pd.DataFrame:
    """A mean over fewer seeds than the other rows' is not comparable with them: such rows show
    ``"2 of 3"`` in ``seeds`` and are named in a warning (a missing run changed a runtime ordering
    once, silently)."""
    if "seeds" not in table or pd.to_numeric(table["seeds"]).nunique() <= 1:
        return table
    counts = pd.to_numeric(table["seeds"])
    most = int(counts.max())
    short = [str(i) for i, n in zip(table.index, counts, strict=True) if n < most]
    log.warning(
        "rows %s have fewer seeds than the others (%d): their means are marked", ", ".join(short), most
    )
    return table.assign(seeds=[f"{int(n)} of {most}" if n < most else str(int(n)) for n in counts])


def write_table(table: pd.DataFrame, folder: str | Path, caption: str, stem: str = "table") -> Path:
    """``<stem>.md`` (a caption line and a pipe table) and ``<stem>.tex`` (booktabs) in ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cells = table_cells(table)
    md = f"{caption}\n\n{cells.to_markdown(index=False, disable_numparse=True)}\n"
    (folder / f"{stem}.md").write_text(md)
    tex = cells.replace("—", "--").to_latex(
        index=False, escape=True, caption=caption, label=f"tab:{folder.name}"
    )
    (folder / f"{stem}.tex").write_text(tex)
    return folder / f"{stem}.md"


def write_figure(fig: plt.Figure, folder: str | Path, stem: str = "figure") -> Path:
    """``<stem>.png`` in ``folder`` (110 dpi, no software stamp, so reruns give the same bytes)."""
    path = Path(folder) / f"{stem}.png"
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path
