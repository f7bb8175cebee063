"""suite.stats against small cases worked out by hand here."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from suite import stats


def test_performance_profile_three_methods_two_workloads_by_hand():
    # w1: a 10 s (best), b 20 s (2x), c missed. w2: a 30 s (3x), b missed, c 10 s (best).
    times = pd.DataFrame({"a": [10.0, 30.0], "b": [20.0, np.inf], "c": [np.nan, 10.0]}, index=["w1", "w2"])
    profile = stats.performance_profile(times, [1.0, 1.5, 2.0, 3.0, 4.0])
    expected = pd.DataFrame(
        {
            "a": [0.5, 0.5, 0.5, 1.0, 1.0],
            "b": [0.0, 0.0, 0.5, 0.5, 0.5],
            "c": [0.5, 0.5, 0.5, 0.5, 0.5],
        },
        index=pd.Index([1.0, 1.5, 2.0, 3.0, 4.0], name="tau"),
    )
    pd.testing.assert_frame_equal(profile, expected)


def test_a_workload_nobody_reached_is_a_miss_for_every_method():
    times = pd.DataFrame({"a": [1.0, np.inf], "b": [2.0, np.inf]})
    profile = stats.performance_profile(times, [1.0, 100.0])
    assert profile.loc[100.0].tolist() == [0.5, 0.5]


def test_memory_profile_uses_the_same_ratios():
    mem = pd.DataFrame({"a": [100.0, 300.0], "b": [150.0, 200.0]})  # b's ratio 1.5 on w1, a's 1.5 on w2
    profile = stats.performance_profile(mem, [1.0, 1.49, 1.5])
    assert profile["a"].tolist() == [0.5, 0.5, 1.0] and profile["b"].tolist() == [0.5, 0.5, 1.0]


def test_bootstrap_interval_of_a_normal_mean_matches_the_normal_theory_one():
    # 400 draws from N(5, 2^2): the 95% interval of the mean is about x̄ ± 1.96·s/√n.
    x = np.random.default_rng(1).normal(5.0, 2.0, size=400)
    ci = stats.bootstrap_ci(x, "mean", n_resamples=4000, seed=3)
    half = 1.96 * x.std(ddof=1) / math.sqrt(len(x))
    assert ci.estimate == pytest.approx(x.mean())
    assert ci.low == pytest.approx(x.mean() - half, abs=0.03)
    assert ci.high == pytest.approx(x.mean() + half, abs=0.03)
    assert (ci.n, ci.level, ci.n_resamples) == (400, 0.95, 4000)


def test_bootstrap_is_seeded_and_the_median_is_the_median():
    x = [1.0, 2.0, 10.0]
    assert stats.bootstrap_ci(x, seed=7) == stats.bootstrap_ci(x, seed=7)
    ci = stats.bootstrap_ci(x, "median", n_resamples=2000)
    assert ci.estimate == 2.0 and ci.low == 1.0 and ci.high == 10.0  # medians of resamples lie in {1, 2, 10}


def test_bootstrap_of_a_constant_has_zero_width():
    ci = stats.bootstrap_ci([3.0, 3.0, 3.0])
    assert (ci.estimate, ci.low, ci.high) == (3.0, 3.0, 3.0)


def test_paired_difference_by_hand():
    # differences a - b = (1, 2, 3): mean 2; resampled means lie in [1, 3] and the extremes
    # (all 1s or all 3s) each have probability 1/27 > 2.5%, so the interval is exactly [1, 3].
    ci = stats.paired_difference([11.0, 12.0, 13.0], [10.0, 10.0, 10.0], n_resamples=20_000)
    assert (ci.estimate, ci.low, ci.high, ci.n) == (2.0, 1.0, 3.0, 3)
    with pytest.raises(ValueError, match="equal lengths"):
        stats.paired_difference([1.0, 2.0], [1.0])


def test_unpaired_difference_estimate_is_the_difference_of_means():
    ci = stats.unpaired_difference([1.0, 2.0, 3.0], [0.0, 0.0, 0.0, 4.0])
    assert ci.estimate == pytest.approx(2.0 - 1.0) and ci.low < ci.estimate < ci.high and ci.n == 3


def test_verdicts_from_the_side_of_zero():
    above = stats.Interval(1.0, 0.5, 1.5, 3)
    below = stats.Interval(-1.0, -1.5, -0.5, 3)
    across = stats.Interval(0.1, -0.2, 0.4, 3)
    assert stats.verdict(above, +1) == "agrees" and stats.verdict(above, -1) == "disagrees"
    assert stats.verdict(below, -1) == "agrees" and stats.verdict(below, +1) == "disagrees"
    assert stats.verdict(across, +1) == "inconclusive" == stats.verdict(across, -1)
    assert stats.verdict(stats.exact(-2.0), -1) == "agrees"  # a byte count: exact, no interval
    assert stats.verdict(stats.exact(0.0), -1) == "inconclusive"


def test_verdict_within_a_tolerance():
    assert stats.verdict_within(stats.Interval(0.0, -0.04, 0.04, 3), 0.05) == "agrees"
    assert stats.verdict_within(stats.Interval(0.2, 0.1, 0.3, 3), 0.05) == "disagrees"
    assert stats.verdict_within(stats.Interval(0.0, -0.1, 0.1, 3), 0.05) == "inconclusive"


def test_expected_best_of_k_by_hand():
    trials = [0.1, 0.5, 0.3]
    curve = stats.tuning_budget_curve(trials, [1, 3], maximize=True, n_resamples=500)
    # k = 1: the mean of the trials. k = n = 3: Σ v_(i)[(i/3)^3 - ((i-1)/3)^3] = (0.1·1 + 0.3·7 + 0.5·19)/27.
    assert curve["mean"].tolist() == pytest.approx([0.3, 11.7 / 27])
    assert curve["k"].tolist() == [1, 3]
    assert (curve["low"] <= curve["mean"]).all() and (curve["mean"] <= curve["high"]).all()
    # minimizing (a loss): k = 3 gives (0.5·1 + 0.3·7 + 0.1·19)/27.
    low = stats.tuning_budget_curve(trials, [1, 3], maximize=False, n_resamples=500)
    assert low["mean"].tolist() == pytest.approx([0.3, 4.5 / 27])


def test_expected_best_grows_with_k_towards_the_best_trial():
    curve = stats.tuning_budget_curve([1.0, 2.0, 3.0, 4.0], [1, 2, 8, 64], maximize=True, n_resamples=200)
    assert curve["mean"].is_monotonic_increasing and curve["mean"].iloc[-1] == pytest.approx(4.0, abs=1e-6)


def test_pareto_front_keeps_the_non_dominated_rows():
    df = pd.DataFrame(
        {"method": ["a", "b", "c", "d", "e"], "mem": [1, 2, 3, 2, 4], "acc": [0.1, 0.5, 0.4, 0.3, 0.6]}
    )
    # c (3, 0.4) is dominated by b (2, 0.5); d (2, 0.3) by b; a, b and e are not.
    assert stats.pareto_front(df, "mem", "acc")["method"].tolist() == ["a", "b", "e"]
    assert stats.pareto_front(df, "mem", "acc", minimize_x=False)["method"].tolist() == ["e"]


def test_pareto_figure_draws_every_point_and_the_front():
    df = pd.DataFrame({"method": ["a", "b", "c"], "mem": [1.0, 2.0, 3.0], "acc": [0.1, 0.5, 0.4]})
    fig = stats.pareto_figure(df, "mem", "acc", xlabel="peak memory (MiB)")
    ax = fig.axes[0]
    assert len(ax.collections[0].get_offsets()) == 3
    assert ax.lines[0].get_xdata().tolist() == [1.0, 2.0] and ax.get_xlabel() == "peak memory (MiB)"


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: stats.bootstrap_ci([]), "non-empty"),
        (lambda: stats.bootstrap_ci([1.0], "mode"), "not one of mean, median"),
        (lambda: stats.bootstrap_ci([1.0], level=1.0), "strictly between 0 and 1"),
        (lambda: stats.tuning_budget_curve([1.0], [0], maximize=True), "at least 1"),
        (lambda: stats.tuning_budget_curve([1.0, np.inf], [1], maximize=False), "finite result"),
        (lambda: stats.verdict(stats.exact(1.0), 0), r"\+1 or -1"),
    ],
)
def test_bad_input_says_what_is_allowed(call, message):
    with pytest.raises(ValueError, match=message):
        call()
