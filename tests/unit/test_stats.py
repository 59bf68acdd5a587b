"""Statistics against values computed by hand or with scipy.stats as the reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as reference

from sevtui.bench.stats import (
    LogTerm,
    benjamini_hochberg,
    compare,
    geometric_interval,
    launch_share,
    mean_of,
    summarize,
    t_cdf,
    t_quantile,
    trend_p,
)


def test_summary_of_three_values() -> None:
    s = summarize([10.0, 12.0, 14.0])
    assert (s.n, s.mean, s.median, s.sd) == (3, 12.0, 12.0, 2.0)
    assert s.cv_pct == pytest.approx(16.6667, abs=1e-4)
    # t(0.975, 2) = 4.302653 (tables); half width = 4.302653 * 2 / sqrt(3) = 4.968275
    assert s.ci95 == pytest.approx((12 - 4.968275, 12 + 4.968275), abs=1e-5)


def test_single_value_has_no_spread() -> None:
    s = summarize([5.0])
    assert s.sd is None and s.ci95 is None and s.cv_pct is None


def test_t_distribution_matches_tables() -> None:
    assert t_quantile(0.975, 1) == pytest.approx(12.7062, abs=1e-4)
    assert t_quantile(0.975, 10) == pytest.approx(2.2281, abs=1e-4)
    assert t_quantile(0.975, 4.5) == pytest.approx(reference.t.ppf(0.975, 4.5), rel=1e-12)
    assert t_cdf(0.0, 7) == pytest.approx(0.5)
    assert t_cdf(2.0, 5) == pytest.approx(0.94903026, abs=1e-7)


def test_the_seeds_single_runs_stay_reproducible_by_hand() -> None:
    linux = compare([[319.93260073661804]], [[357.29826259613037]], "lower")
    assert linux.overhead_pct == pytest.approx(11.68, abs=0.005)
    assert linux.change_pct == pytest.approx(11.68, abs=0.005)
    assert linux.overhead_ci95 is None and linux.significant is None
    assert "at least 2 units" in linux.reason
    # redis SET: 45537.02 vs 44455.46 requests/s (the seed's write-up): the same work
    # takes 2.376 % longer, while the number itself fell 2.321 %.
    redis = compare([[45537.02]], [[44455.46]], "higher")
    assert redis.overhead_pct == pytest.approx(45537.02 / 44455.46 * 100 - 100, abs=1e-9)
    assert redis.overhead_pct == pytest.approx(2.433, abs=0.001)
    assert redis.change_pct == pytest.approx((44455.46 - 45537.02) / 45537.02 * 100)


def fieller_by_hand(base: list[float], other: list[float]) -> tuple[float, float]:
    """The set {r : (mo - r mb)^2 <= t^2 (vo + r^2 vb)} by solving its quadratic."""
    mb, mo = np.mean(base), np.mean(other)
    vb, vo = np.var(base, ddof=1) / len(base), np.var(other, ddof=1) / len(other)
    r = mo / mb
    df = (vo + r * r * vb) ** 2 / (vo**2 / (len(other) - 1) + r**4 * vb**2 / (len(base) - 1))
    t = reference.t.ppf(0.975, df)
    roots = np.roots([mb**2 - t * t * vb, -2 * mo * mb, mo**2 - t * t * vo])
    low, high = sorted(float(x.real) for x in roots)
    return low, high


def test_time_ci_is_fiellers_interval_and_p_is_welchs() -> None:
    base, other = [10.0, 12.0, 14.0, 11.0], [13.0, 15.0, 17.0, 16.0]
    c = compare([base], [other], "lower")
    low, high = fieller_by_hand(base, other)
    assert c.overhead_pct == pytest.approx((np.mean(other) / np.mean(base) - 1) * 100)
    assert c.overhead_ci95 == pytest.approx(((low - 1) * 100, (high - 1) * 100), rel=1e-9)
    welch = reference.ttest_ind(other, base, equal_var=False)
    assert c.p_value == pytest.approx(welch.pvalue, rel=1e-9)
    assert (c.unit, c.units) == ("repetition", (4, 4))


def test_rates_use_time_per_unit_of_work_the_harmonic_mean() -> None:
    base, other = [100.0, 110.0, 90.0], [50.0, 55.0, 45.0]
    c = compare([base], [other], "higher")
    harmonic = reference.hmean(base) / reference.hmean(other)
    assert c.ratio == pytest.approx(harmonic)
    low, high = fieller_by_hand([1 / v for v in base], [1 / v for v in other])
    assert c.overhead_ci95 == pytest.approx(((low - 1) * 100, (high - 1) * 100), rel=1e-9)


def test_launches_are_the_unit_when_each_side_has_two() -> None:
    base = [[10.0, 10.2, 9.8], [11.0, 11.1, 10.9], [10.5, 10.4, 10.6]]
    other = [[12.0, 12.1, 11.9], [12.6, 12.5, 12.7], [11.8, 11.9, 11.7]]
    c = compare(base, other, "lower")
    launch_b = [float(np.mean(g)) for g in base]
    launch_o = [float(np.mean(g)) for g in other]
    low, high = fieller_by_hand(launch_b, launch_o)
    assert (c.unit, c.units) == ("launch", (3, 3))
    assert c.overhead_ci95 == pytest.approx(((low - 1) * 100, (high - 1) * 100), rel=1e-9)
    assert c.base.n == 9, "descriptive statistics still cover every repetition"


def test_a_base_mean_not_significantly_above_zero_gives_no_interval() -> None:
    c = compare([[0.001, 5.0]], [[1.0, 1.1]], "lower")
    assert c.overhead_ci95 is None and "not significantly above zero" in c.reason
    assert c.overhead_pct is not None


def test_zero_base_has_no_ratio_and_says_why() -> None:
    c = compare([[0.0, 0.0]], [[1.0, 2.0]], "lower")
    assert c.ratio is None and c.overhead_pct is None and c.overhead_ci95 is None
    assert "zero" in c.reason


def test_benjamini_hochberg_matches_scipy() -> None:
    p = [0.01, 0.04, 0.03, 0.2, None, 0.001]
    adjusted = benjamini_hochberg(p)
    expected = reference.false_discovery_control([0.01, 0.04, 0.03, 0.2, 0.001], method="bh")
    got = [a for a in adjusted if a is not None]
    assert got == pytest.approx(list(expected))
    assert adjusted[4] is None


def test_geometric_interval_by_hand() -> None:
    terms = [
        LogTerm(math.log(1.1), ((0.0004, 4), (0.0009, 4))),
        LogTerm(math.log(1.2), ((0.0001, 9), (0.0001, 9))),
    ]
    ratio, (low, high) = geometric_interval(terms)
    assert ratio == pytest.approx(math.sqrt(1.1 * 1.2))
    total = 0.0004 + 0.0009 + 0.0001 + 0.0001
    df = total**2 / (0.0004**2 / 4 + 0.0009**2 / 4 + 0.0001**2 / 9 + 0.0001**2 / 9)
    half = reference.t.ppf(0.975, df) * math.sqrt(total) / 2
    assert (low, high) == pytest.approx((ratio * math.exp(-half), ratio * math.exp(half)))


def test_trend_p_is_the_slope_test_or_lag1_autocorrelation() -> None:
    drifting = [10.0, 10.4, 10.9, 11.2, 11.8, 12.1, 12.7]
    fit = reference.linregress(range(len(drifting)), drifting)
    assert trend_p(drifting) == pytest.approx(fit.pvalue, rel=1e-6)
    assert trend_p([1.0, 2.0, 3.0]) is None, "too short to tell"
    flat = [10.0, 10.3, 9.8, 10.1, 9.9, 10.2, 10.0, 9.7]
    assert trend_p(flat) is not None and trend_p(flat) > 0.01  # type: ignore[operator]


def test_launch_share_from_a_balanced_one_way_anova() -> None:
    groups = [[10.0, 11.0, 12.0], [14.0, 15.0, 16.0], [12.0, 13.0, 14.0]]
    # by hand: means 11, 15, 13; grand 13; MSB = 3 * (4 + 4 + 0) / 2 = 12; MSW = 1
    # sigma2_launch = (12 - 1) / 3 = 11/3; share = (11/3) / (11/3 + 1) = 11/14
    assert launch_share(groups) == pytest.approx(11 / 14)
    assert launch_share([[1.0, 2.0]]) is None
    assert launch_share([[10.0, 11.0], [10.5, 10.5]]) == 0.0


def test_mean_of_one_value_has_no_variance() -> None:
    assert mean_of([3.0]).var is None and mean_of([1.0, 3.0]).var == pytest.approx(1.0)


positive = st.floats(min_value=1e-6, max_value=1e9, allow_nan=False, allow_infinity=False)
samples = st.lists(positive, min_size=2, max_size=12)


@settings(max_examples=300, deadline=None)
@given(samples, samples, st.sampled_from(["lower", "higher"]))
def test_the_ci_always_contains_the_estimate_and_stays_in_range(
    base: list[float], other: list[float], direction: str
) -> None:
    c = compare([base], [other], direction)  # type: ignore[arg-type]
    assert c.overhead_pct is not None
    if c.overhead_ci95 is None:
        assert c.reason
        return
    low, high = c.overhead_ci95
    assert -100 <= low <= c.overhead_pct <= high < math.inf
