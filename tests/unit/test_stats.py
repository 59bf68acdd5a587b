"""Statistics against values computed by hand."""

from __future__ import annotations

import math

import pytest

from sevtui.bench.stats import compare, geometric_mean_overhead, summarize, t_cdf, t_quantile


def test_summary_of_three_values() -> None:
    s = summarize([10.0, 12.0, 14.0])
    assert (s.n, s.mean, s.median, s.sd) == (3, 12.0, 12.0, 2.0)
    assert s.cv_pct == pytest.approx(16.6667, abs=1e-4)
    # t(0.975, 2) = 4.302653; half width = 4.302653 * 2 / sqrt(3) = 4.968275
    assert s.ci95 == pytest.approx((12 - 4.968275, 12 + 4.968275), abs=1e-5)


def test_single_value_has_no_spread() -> None:
    s = summarize([5.0])
    assert s.sd is None and s.ci95 is None and s.cv_pct is None


def test_t_distribution_matches_tables() -> None:
    assert t_quantile(0.975, 1) == pytest.approx(12.7062, abs=1e-4)
    assert t_quantile(0.975, 10) == pytest.approx(2.2281, abs=1e-4)
    assert t_cdf(0.0, 7) == pytest.approx(0.5)
    assert t_cdf(2.0, 5) == pytest.approx(0.94903026, abs=1e-7)


def test_overhead_sign_follows_direction() -> None:
    slower = compare([319.93260073661804], [357.29826259613037], "lower")
    assert slower.change_pct == pytest.approx(11.6792, abs=1e-4)
    assert slower.overhead_pct == pytest.approx(11.6792, abs=1e-4)
    less_bandwidth = compare([100.0], [90.0], "higher")
    assert less_bandwidth.change_pct == pytest.approx(-10.0)
    # 10 % less bandwidth: the same work takes 100/90 as long, 11.1 % more.
    assert less_bandwidth.overhead_pct == pytest.approx(100 / 90 * 100 - 100)
    assert less_bandwidth.ratio == pytest.approx(100 / 90)
    assert slower.overhead_ci95 is None and slower.significant is None


def test_welch_by_hand() -> None:
    base, other = [10.0, 12.0, 14.0], [13.0, 15.0, 17.0]
    c = compare(base, other, "lower")
    # diff 3, se = sqrt(4/3 + 4/3) = 1.632993, df = 4, t = 1.837117, p = 0.140066 (numeric)
    assert c.p_value == pytest.approx(0.1400660, abs=1e-6)
    assert c.significant is False
    half = 2.776445 * math.sqrt(8 / 3)
    assert c.overhead_ci95 == pytest.approx(
        ((3 - half) / 12 * 100, (3 + half) / 12 * 100), abs=1e-3
    )


def test_rate_overhead_ci_maps_welch_through_base_over_other() -> None:
    base, other = [100.0, 102.0, 98.0], [50.0, 52.0, 48.0]
    c = compare(base, other, "higher")
    assert c.overhead_pct == pytest.approx(100.0)
    half = 2.776445 * math.sqrt(8 / 3)  # Welch: sd 2 in both, df 4
    assert c.overhead_ci95 == pytest.approx(
        (100 / (50 + half) * 100 - 100, 100 / (50 - half) * 100 - 100), abs=1e-3
    )
    assert c.overhead_ci95[0] < c.overhead_pct < c.overhead_ci95[1]


def test_one_metric_geometric_mean_equals_its_overhead() -> None:
    for direction in ("lower", "higher"):
        c = compare([6854.0, 6900.0], [1420.0, 1400.0], direction)  # type: ignore[arg-type]
        assert geometric_mean_overhead([c.ratio]) == pytest.approx(c.overhead_pct)


def test_geometric_mean() -> None:
    assert geometric_mean_overhead([1.1, 1.1]) == pytest.approx(10.0)
    assert geometric_mean_overhead([2.0, 0.5]) == pytest.approx(0.0)
