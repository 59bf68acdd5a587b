"""Statistics against values computed by hand or with scipy.stats as the reference."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as reference

from sevtui.bench.stats import compare, geometric_mean_overhead, summarize, t_cdf, t_quantile


def logs(values: list[float]) -> list[float]:
    return [math.log(v) for v in values]


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


def test_overhead_is_the_ratio_of_the_arithmetic_means() -> None:
    slower = compare([319.93260073661804], [357.29826259613037], "lower")
    assert slower.change_pct == pytest.approx(11.6792, abs=1e-4)
    assert slower.overhead_pct == pytest.approx(11.6792, abs=1e-4)
    less_bandwidth = compare([100.0], [90.0], "higher")
    assert less_bandwidth.change_pct == pytest.approx(-10.0)
    # 10 % less bandwidth: the same work takes 100/90 as long, 11.1 % more.
    assert less_bandwidth.overhead_pct == pytest.approx(100 / 90 * 100 - 100)
    assert less_bandwidth.ratio == pytest.approx(100 / 90)
    assert slower.overhead_ci95 is None and slower.significant is None
    assert "at least 2 repetitions" in slower.reason


def test_time_ci_is_welch_on_the_logs_mapped_back() -> None:
    base, other = [10.0, 12.0, 14.0], [13.0, 15.0, 17.0]
    c = compare(base, other, "lower")
    ref = reference.ttest_ind(logs(other), logs(base), equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert c.overhead_pct == pytest.approx((15 / 12 - 1) * 100)
    assert c.overhead_ci95 == pytest.approx(
        ((math.exp(ci.low) - 1) * 100, (math.exp(ci.high) - 1) * 100), rel=1e-9
    )
    assert c.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert c.significant == (ref.pvalue < 0.05)
    assert not c.ci_widened


def test_rate_ci_is_the_inverse_ratio() -> None:
    base, other = [100.0, 102.0, 98.0], [50.0, 52.0, 48.0]
    c = compare(base, other, "higher")
    assert c.overhead_pct == pytest.approx(100.0)
    # Time per unit of work is 1/rate: the ratio other/base of times is base/other of rates.
    ref = reference.ttest_ind(logs(base), logs(other), equal_var=False).confidence_interval(0.95)
    assert c.overhead_ci95 == pytest.approx(
        ((math.exp(ref.low) - 1) * 100, (math.exp(ref.high) - 1) * 100), rel=1e-9
    )
    assert c.overhead_ci95 is not None and c.overhead_pct is not None
    assert c.overhead_ci95[0] < c.overhead_pct < c.overhead_ci95[1]


def test_the_ci_is_widened_to_contain_the_ratio_of_means_and_says_so() -> None:
    base, other = [1.0, 1.01, 0.99] * 10, [1.0] * 30 + [100.0]
    c = compare(base, other, "lower")
    ref = reference.ttest_ind(logs(other), logs(base), equal_var=False).confidence_interval(0.95)
    ratio = (30 + 100) / 31 / 1.0
    assert c.ratio == pytest.approx(ratio)
    assert c.overhead_pct is not None
    assert (math.exp(ref.high) - 1) * 100 < c.overhead_pct  # the log CI alone misses it
    assert c.overhead_ci95 == pytest.approx(((math.exp(ref.low) - 1) * 100, (ratio - 1) * 100))
    assert c.ci_widened and "widened" in c.reason


def test_the_old_impossible_interval_cannot_happen() -> None:
    # Huge spread on both sides: the old linear CI went below -100 % for a time.
    c = compare([1.0, 10.0, 100.0], [0.5, 50.0, 500.0], "lower")
    assert c.overhead_ci95 is not None and c.overhead_pct is not None
    assert -100 < c.overhead_ci95[0] <= c.overhead_pct <= c.overhead_ci95[1] < math.inf


def test_zero_base_has_no_ratio_and_says_why() -> None:
    c = compare([0.0, 0.0], [1.0, 2.0], "lower")
    assert c.ratio is None and c.overhead_pct is None and c.overhead_ci95 is None
    assert "zero" in c.reason


def test_a_zero_value_gives_no_interval_but_keeps_the_ratio() -> None:
    c = compare([0.0, 2.0], [1.0, 3.0], "lower")
    assert c.ratio == pytest.approx(2.0) and c.overhead_ci95 is None
    assert "positive" in c.reason


def test_geometric_mean() -> None:
    assert geometric_mean_overhead([1.1, 1.1]) == pytest.approx(10.0)
    assert geometric_mean_overhead([2.0, 0.5]) == pytest.approx(0.0)


positive = st.floats(min_value=1e-6, max_value=1e9, allow_nan=False, allow_infinity=False)
samples = st.lists(positive, min_size=2, max_size=12)


@settings(max_examples=300, deadline=None)
@given(samples, samples, st.sampled_from(["lower", "higher"]))
def test_the_ci_always_contains_the_estimate_and_stays_in_range(
    base: list[float], other: list[float], direction: str
) -> None:
    c = compare(base, other, direction)  # type: ignore[arg-type]
    assert c.overhead_pct is not None
    if c.overhead_ci95 is None:
        assert c.reason
        return
    low, high = c.overhead_ci95
    assert -100 < low <= c.overhead_pct <= high < math.inf
