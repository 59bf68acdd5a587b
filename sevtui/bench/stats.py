"""Statistics a reviewer accepts: mean, sd, CV, t-based 95 % CI, Welch's test, overhead.

Pure functions over lists of floats; the Student-t distribution is computed here
(regularized incomplete beta) so no SciPy is needed.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Direction = Literal["lower", "higher"]


@dataclass(frozen=True)
class Summary:
    """Descriptive statistics of one metric on one VM."""

    n: int
    mean: float
    median: float
    sd: float | None
    cv_pct: float | None
    ci95: tuple[float, float] | None

    def to_json(self) -> dict[str, object]:
        """JSON form used by `results show/compare`."""
        return {
            "n": self.n,
            "mean": self.mean,
            "median": self.median,
            "sd": self.sd,
            "cv_pct": self.cv_pct,
            "ci95": list(self.ci95) if self.ci95 else None,
        }


@dataclass(frozen=True)
class Comparison:
    """Base vs other for one metric; positive overhead means `other` is worse."""

    base: Summary
    other: Summary
    change_pct: float
    overhead_pct: float
    overhead_ci95: tuple[float, float] | None
    p_value: float | None
    significant: bool | None
    ratio: float


def summarize(values: Sequence[float]) -> Summary:
    """n, mean, median, sd, CV % and the t-based 95 % CI of the mean."""
    if not values:
        raise ValueError("no values")
    n = len(values)
    mean = statistics.fmean(values)
    median = statistics.median(values)
    if n < 2:
        return Summary(n, mean, median, None, None, None)
    sd = statistics.stdev(values)
    cv = abs(sd / mean) * 100 if mean else None
    half = t_quantile(0.975, n - 1) * sd / math.sqrt(n)
    return Summary(n, mean, median, sd, cv, (mean - half, mean + half))


def compare(base: Sequence[float], other: Sequence[float], direction: Direction) -> Comparison:
    """Overhead of OTHER relative to BASE, with Welch's CI and test when both have n >= 2.

    Overhead is how much more time OTHER needs for the same work: other/base - 1 for times
    (lower is better), base/other - 1 for rates (higher is better). Per metric it is the
    same ratio the geometric means are taken of, so a category's mean agrees with its rows.
    """
    b, o = summarize(base), summarize(other)
    if b.mean == 0:
        raise ValueError("base mean is zero: overhead is undefined")

    def overhead_at(diff: float) -> float:
        """Overhead % when other's mean is base's mean + DIFF."""
        if direction == "lower":
            return diff / b.mean * 100
        other_mean = b.mean + diff
        return (b.mean / other_mean - 1) * 100 if other_mean > 0 else math.inf

    diff = o.mean - b.mean
    change = diff / b.mean * 100
    overhead = overhead_at(diff)
    ratio = 1 + overhead / 100
    ci: tuple[float, float] | None = None
    p_value: float | None = None
    if b.sd is not None and o.sd is not None:
        var_b, var_o = b.sd**2 / b.n, o.sd**2 / o.n
        se = math.sqrt(var_b + var_o)
        if se > 0:
            df = (var_b + var_o) ** 2 / (var_b**2 / (b.n - 1) + var_o**2 / (o.n - 1))
            half = t_quantile(0.975, df) * se
            low, high = overhead_at(diff - half), overhead_at(diff + half)
            ci = (min(low, high), max(low, high))
            p_value = 2 * (1 - t_cdf(abs(diff) / se, df))
        else:
            ci = (overhead, overhead)
            p_value = 0.0 if diff else 1.0
    significant = None if p_value is None else p_value < 0.05
    return Comparison(b, o, change, overhead, ci, p_value, significant, ratio)


def geometric_mean_overhead(ratios: Sequence[float]) -> float:
    """Overhead % from the geometric mean of worse-is-above-1 ratios."""
    usable = [r for r in ratios if r > 0 and math.isfinite(r)]
    if not usable:
        raise ValueError("no positive ratios")
    return (math.exp(statistics.fmean(math.log(r) for r in usable)) - 1) * 100


def is_noisy(summary: Summary, threshold_pct: float) -> bool:
    """CV above the threshold (the Phoronix Test Suite rule for adding runs)."""
    return summary.cv_pct is not None and summary.cv_pct > threshold_pct


def t_cdf(t: float, df: float) -> float:
    """Student-t cumulative distribution function."""
    x = df / (df + t * t)
    tail = 0.5 * _betainc(df / 2, 0.5, x)
    return 1 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """Inverse of t_cdf by bisection (exact to ~1e-10)."""
    low, high = -1000.0, 1000.0
    for _ in range(200):
        mid = (low + high) / 2
        if t_cdf(mid, df) < p:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def _betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b) (Numerical Recipes continued fraction)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    front = math.exp(log_front + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _beta_fraction(a, b, x) / a
    return 1 - front * _beta_fraction(b, a, 1 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    c, d = 1.0, 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 300):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c if abs(1 + numerator / c) > tiny else tiny
            result *= d * c
        if abs(d * c - 1) < 1e-14:
            break
    return result
