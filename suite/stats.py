"""Statistics for comparing methods over seeds, trials and workloads (numpy and pandas only).

- :func:`bootstrap_ci`: a statistic's percentile bootstrap interval (Efron & Tibshirani, *An
  Introduction to the Bootstrap*, 1993, §13.3), seeded, with the number of resamples recorded;
- :func:`paired_difference` / :func:`unpaired_difference`: the interval of a difference between
  two methods (paired by seed when both ran the same seeds);
- :func:`performance_profile`: the fraction of workloads on which a method is within a factor τ
  of the best (Dolan & Moré, arXiv cs/0102001, eq. 1; AlgoPerf's ``scoring/performance_profile.py``
  in github.com/mlcommons/algorithmic-efficiency: a miss is infinitely slow);
- :func:`tuning_budget_curve`: the expected best result after k trials (Dodge et al., "Show Your
  Work", arXiv 1909.03004, eq. 1), with a bootstrap interval over the trials run;
- :func:`pareto_front` / :func:`pareto_figure`: the memory-versus-quality front;
- :func:`verdict` / :func:`verdict_within`: a claim's verdict from the interval of a difference.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

Statistic = Literal["mean", "median"]
Verdict = Literal["agrees", "disagrees", "inconclusive"]

STATISTICS: dict[str, Callable[..., np.ndarray]] = {"mean": np.mean, "median": np.median}


@dataclass(frozen=True)
class Interval:
    """A point estimate and its ``level`` interval over ``n`` values; ``n_resamples`` bootstrap
    resamples made it (0: exact, a deterministic quantity such as a byte count)."""

    estimate: float
    low: float
    high: float
    n: int
    level: float = 0.95
    n_resamples: int = 0

    @property
    def exact(self) -> bool:
        return self.n_resamples == 0


def exact(value: float, n: int = 1) -> Interval:
    """A deterministic value as an interval of width 0 (byte counts need no resampling)."""
    return Interval(float(value), float(value), float(value), n, 1.0, 0)


def _values(values: Iterable[float], what: str = "values") -> np.ndarray:
    x = np.asarray(list(values), dtype=float)
    if x.ndim != 1 or len(x) == 0:
        raise ValueError(f"{what}: need a non-empty list of numbers, got {len(x)}")
    return x


def _check(statistic: str, level: float, n_resamples: int) -> Callable[..., np.ndarray]:
    if statistic not in STATISTICS:
        raise ValueError(f"statistic {statistic!r} is not one of {', '.join(STATISTICS)}")
    if not 0 < level < 1:
        raise ValueError(f"level {level} must lie strictly between 0 and 1")
    if n_resamples < 1:
        raise ValueError(f"n_resamples {n_resamples} must be at least 1")
    return STATISTICS[statistic]


def _percentiles(draws: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1 - level) / 2
    with np.errstate(invalid="ignore"):  # inf - inf between infinite draws (a missed target): NaN
        low, high = np.quantile(draws, [tail, 1 - tail])
    return float(low), float(high)


def bootstrap_ci(
    values: Sequence[float],
    statistic: Statistic = "mean",
    level: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> Interval:
    """The ``statistic`` of ``values`` and its percentile bootstrap interval: ``n_resamples``
    resamples of size n drawn with replacement (numpy ``default_rng(seed)``), the interval the
    (1 ± level)/2 quantiles of the resampled statistic."""
    f = _check(statistic, level, n_resamples)
    x = _values(values)
    rng = np.random.default_rng(seed)
    draws = f(x[rng.integers(0, len(x), size=(n_resamples, len(x)))], axis=1)
    return Interval(float(f(x)), *_percentiles(draws, level), len(x), level, n_resamples)


def paired_difference(
    a: Sequence[float],
    b: Sequence[float],
    statistic: Statistic = "mean",
    level: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> Interval:
    """The ``statistic`` of a − b, paired by position (same seed), with its bootstrap interval
    (the pairs are resampled together)."""
    x, y = _values(a, "a"), _values(b, "b")
    if len(x) != len(y):
        raise ValueError(f"paired values need equal lengths, got {len(x)} and {len(y)}")
    return bootstrap_ci(x - y, statistic, level, n_resamples, seed)


def unpaired_difference(
    a: Sequence[float],
    b: Sequence[float],
    statistic: Statistic = "mean",
    level: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> Interval:
    """statistic(a) − statistic(b) for independent samples, with its bootstrap interval (each
    sample resampled on its own); n is the smaller sample's size."""
    f = _check(statistic, level, n_resamples)
    x, y = _values(a, "a"), _values(b, "b")
    rng = np.random.default_rng(seed)
    draws_a = f(x[rng.integers(0, len(x), size=(n_resamples, len(x)))], axis=1)
    draws_b = f(y[rng.integers(0, len(y), size=(n_resamples, len(y)))], axis=1)
    estimate = float(f(x) - f(y))
    return Interval(
        estimate, *_percentiles(draws_a - draws_b, level), min(len(x), len(y)), level, n_resamples
    )


def verdict(diff: Interval, claim_sign: int) -> Verdict:
    """``agrees`` if the interval of the difference lies on the claimed side of 0 (``claim_sign``
    +1: above, −1: below), ``disagrees`` if on the other side, ``inconclusive`` if it holds 0."""
    if claim_sign not in (1, -1):
        raise ValueError(f"claim_sign {claim_sign} must be +1 or -1")
    low, high = claim_sign * diff.low, claim_sign * diff.high
    if min(low, high) > 0:
        return "agrees"
    if max(low, high) < 0:
        return "disagrees"
    return "inconclusive"


def verdict_within(diff: Interval, tolerance: float) -> Verdict:
    """For a claim "within δ": ``agrees`` if the interval lies inside [−δ, δ], ``disagrees`` if it
    lies wholly outside, ``inconclusive`` otherwise."""
    if tolerance < 0:
        raise ValueError(f"tolerance {tolerance} must be non-negative")
    if -tolerance <= diff.low and diff.high <= tolerance:
        return "agrees"
    if diff.low > tolerance or diff.high < -tolerance:
        return "disagrees"
    return "inconclusive"


def performance_profile(times: pd.DataFrame, taus: Iterable[float]) -> pd.DataFrame:
    """ρ_m(τ): the fraction of workloads (rows of ``times``) on which method m (a column) takes at
    most τ × the best method's value on that workload. Missing values and ``np.inf`` are misses
    (never within any τ); a workload no method reached is a miss for all. Works as well for peak
    memory (every value finite)."""
    if times.empty:
        raise ValueError("performance_profile: need at least one workload and one method")
    values = times.astype(float).fillna(np.inf)
    best = values.min(axis=1)
    ratios = values.div(best, axis=0).where(np.isfinite(best), np.inf, axis=0)
    taus = [float(t) for t in taus]
    rows = {t: (ratios <= t).mean(axis=0) for t in taus}
    out = pd.DataFrame(rows).T
    out.index.name = "tau"
    return out[list(times.columns)]


def _expected_best(sorted_values: np.ndarray, k: int) -> np.ndarray:
    """E[max of k draws with replacement] per row of ascending ``sorted_values``:
    Σ_i v_(i) [(i/n)^k − ((i−1)/n)^k] (Dodge et al. 2019, eq. 1)."""
    n = sorted_values.shape[-1]
    i = np.arange(1, n + 1)
    weights = (i / n) ** k - ((i - 1) / n) ** k
    return sorted_values @ weights


def tuning_budget_curve(
    trial_values: Sequence[float],
    ks: Iterable[int],
    maximize: bool,
    n_resamples: int = 10_000,
    seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """The expected best validation result after k trials drawn from the trials run (``mean``,
    exact), and its percentile interval (``low``, ``high``) over ``n_resamples`` bootstrap
    resamples of the trials; one row per k. ``maximize`` False: best = lowest (a loss)."""
    _check("mean", level, n_resamples)
    sign = 1.0 if maximize else -1.0
    x = sign * _values(trial_values, "trial_values")
    if not np.isfinite(x).all():
        raise ValueError(
            "trial_values: every trial needs a finite result; give a failed trial the worst value "
            "it could have (e.g. the initial loss)"
        )
    rng = np.random.default_rng(seed)
    resamples = np.sort(x[rng.integers(0, len(x), size=(n_resamples, len(x)))], axis=1)
    rows = []
    for k in ks:
        if int(k) < 1:
            raise ValueError(f"k {k} must be at least 1")
        low, high = sorted(sign * np.array(_percentiles(_expected_best(resamples, int(k)), level)))
        rows.append(
            {"k": int(k), "mean": float(sign * _expected_best(np.sort(x), int(k))), "low": low, "high": high}
        )
    return pd.DataFrame(rows, columns=["k", "mean", "low", "high"])


def pareto_front(
    df: pd.DataFrame, x: str, y: str, minimize_x: bool = True, maximize_y: bool = True
) -> pd.DataFrame:
    """The rows of ``df`` no other row dominates (at least as good in ``x`` and ``y``, better in
    one), sorted by ``x``."""
    xs = df[x].to_numpy(float) * (1 if minimize_x else -1)
    ys = df[y].to_numpy(float) * (-1 if maximize_y else 1)  # both now "lower is better"
    keep = []
    for i in range(len(df)):
        no_worse = (xs <= xs[i]) & (ys <= ys[i])
        better = (xs < xs[i]) | (ys < ys[i])
        keep.append(not np.any(no_worse & better))
    return df[np.array(keep, dtype=bool)].sort_values(x, kind="stable")


def pareto_figure(
    df: pd.DataFrame,
    x: str,
    y: str,
    label: str = "method",
    minimize_x: bool = True,
    maximize_y: bool = True,
    xlabel: str | None = None,
    ylabel: str | None = None,
) -> Figure:
    """Every row as a labelled point of ``x`` (e.g. peak memory) against ``y`` (e.g. exact match),
    the Pareto front (:func:`pareto_front`) joined by a line."""
    fig = Figure(figsize=(5.5, 4.0))
    ax = fig.add_subplot()
    ax.scatter(df[x], df[y], color="C0")
    for _, row in df.iterrows():
        ax.annotate(str(row[label]), (row[x], row[y]), textcoords="offset points", xytext=(4, 4), fontsize=7)
    front = pareto_front(df, x, y, minimize_x, maximize_y)
    ax.plot(front[x], front[y], "k--", lw=1, label="Pareto front")
    ax.set(xlabel=xlabel or x, ylabel=ylabel or y)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
