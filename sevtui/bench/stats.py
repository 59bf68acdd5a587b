"""Statistics a reviewer accepts: mean, sd, CV, t-based 95 % CI, overhead ratios with log-scale CIs.

Pure functions over lists of floats. The Student-t distribution comes from SciPy
(`scipy.special.stdtrit` / `stdtr`), imported on first use so start-up does not pay for it.

Overhead is a ratio: how much more time OTHER needs for the same work. The point estimate
is the ratio of the arithmetic means; its 95 % CI comes from Welch's t on the logarithms
of the repetitions, mapped back, so it is always positive and finite, and it is widened to
contain the point estimate where the two disagree (`ci_widened`).
"""

from __future__ import annotations

import math
import statistics
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from sevtui.values import Direction

CONFIDENCE = 0.95
RATIO_LIMIT = 1e12
"""A ratio interval reaching beyond 1/RATIO_LIMIT..RATIO_LIMIT is reported as not informative
(its overhead bounds would round to -100 % or overflow)."""


@dataclass(frozen=True)
class Summary:
    """Descriptive statistics of one metric on one profile (one value per repetition)."""

    n: int
    mean: float
    median: float
    sd: float | None
    cv_pct: float | None
    ci95: tuple[float, float] | None

    def to_json(self) -> dict[str, object]:
        """JSON form used by `results show/compare` (no NaN or Infinity)."""
        return {
            "n": self.n,
            "mean": self.mean,
            "median": self.median,
            "sd": self.sd,
            "cv_pct": self.cv_pct,
            "ci95": list(self.ci95) if self.ci95 else None,
        }


@dataclass(frozen=True)
class RatioInterval:
    """A ratio's 95 % CI from Welch's t on log values, with its two-sided p-value."""

    low: float
    high: float
    p_value: float


@dataclass(frozen=True)
class Comparison:
    """Base vs other for one metric; positive overhead means `other` is worse.

    `ratio` and `overhead_pct` are None when undefined (a zero mean); `overhead_ci95` is
    None when it cannot be computed; `reason` then says why.
    """

    base: Summary
    other: Summary
    change_pct: float | None
    ratio: float | None
    overhead_pct: float | None
    overhead_ci95: tuple[float, float] | None
    p_value: float | None
    significant: bool | None
    ci_widened: bool = False
    reason: str = ""


def summarize(values: Sequence[float]) -> Summary:
    """n, mean, median, sd, CV % and the t-based 95 % CI of the mean."""
    if not values:
        raise ValueError("no values")
    n = len(values)
    mean = math.fsum(values) / n
    median = statistics.median(values)
    if n < 2:
        return Summary(n, mean, median, None, None, None)
    sd = math.sqrt(max(math.fsum((v - mean) ** 2 for v in values) / (n - 1), 0.0))
    cv = abs(sd / mean) * 100 if mean else None
    half = t_quantile(0.5 + CONFIDENCE / 2, n - 1) * sd / math.sqrt(n)
    return Summary(n, mean, median, sd, cv, (mean - half, mean + half))


def worse_ratio(base_mean: float, other_mean: float, direction: Direction) -> float | None:
    """How many times as long OTHER takes: other/base for times, base/other for rates."""
    numerator, denominator = (
        (other_mean, base_mean) if direction == "lower" else (base_mean, other_mean)
    )
    if denominator <= 0 or numerator <= 0:
        return None
    return numerator / denominator


def log_welch(base: Sequence[float], other: Sequence[float]) -> RatioInterval | str:
    """95 % CI of geomean(other)/geomean(base) by Welch's t on the logs, or why not."""
    if len(base) < 2 or len(other) < 2:
        return "a confidence interval needs at least 2 repetitions on each side"
    if min(base) <= 0 or min(other) <= 0:
        return "a value is zero or negative: the log-scale interval needs positive values"
    log_b = [math.log(v) for v in base]
    log_o = [math.log(v) for v in other]
    mean_b, mean_o = math.fsum(log_b) / len(log_b), math.fsum(log_o) / len(log_o)
    var_b = math.fsum((x - mean_b) ** 2 for x in log_b) / (len(log_b) - 1) / len(log_b)
    var_o = math.fsum((x - mean_o) ** 2 for x in log_o) / (len(log_o) - 1) / len(log_o)
    diff = mean_o - mean_b
    se = math.sqrt(var_b + var_o)
    if se == 0:
        exact = math.exp(diff)
        return RatioInterval(exact, exact, 0.0 if diff else 1.0)
    df = (var_b + var_o) ** 2 / (var_b**2 / (len(log_b) - 1) + var_o**2 / (len(log_o) - 1))
    half = t_quantile(0.5 + CONFIDENCE / 2, df) * se
    if abs(diff) + half > math.log(RATIO_LIMIT):
        return (
            f"the interval reaches beyond {1 / RATIO_LIMIT:g}..{RATIO_LIMIT:g} times the base: "
            "not informative; add repetitions"
        )
    low, high = math.exp(diff - half), math.exp(diff + half)
    return RatioInterval(low, high, 2 * t_cdf(-abs(diff) / se, df))


def compare(base: Sequence[float], other: Sequence[float], direction: Direction) -> Comparison:
    """Overhead of OTHER relative to BASE with a log-scale Welch CI when both have n >= 2."""
    b, o = summarize(base), summarize(other)
    change = (o.mean - b.mean) / b.mean * 100 if b.mean else None
    ratio = worse_ratio(b.mean, o.mean, direction)
    if ratio is None:
        return Comparison(
            b, o, change, None, None, None, None, None, reason="a mean is zero: no ratio"
        )
    interval = log_welch(base, other) if direction == "lower" else log_welch(other, base)
    if isinstance(interval, str):
        return Comparison(b, o, change, ratio, (ratio - 1) * 100, None, None, None, reason=interval)
    return _with_interval(b, o, change, ratio, interval)


def _with_interval(
    b: Summary, o: Summary, change: float | None, ratio: float, interval: RatioInterval
) -> Comparison:
    ci, widened = overhead_interval(ratio, interval)
    return Comparison(
        b,
        o,
        change,
        ratio,
        (ratio - 1) * 100,
        ci,
        interval.p_value,
        interval.p_value < 1 - CONFIDENCE,
        ci_widened=widened,
        reason="CI widened to contain the ratio of means" if widened else "",
    )


def overhead_interval(ratio: float, interval: RatioInterval) -> tuple[tuple[float, float], bool]:
    """The CI as overhead %, widened to contain RATIO; True when it had to be widened."""
    low, high = min(interval.low, ratio), max(interval.high, ratio)
    widened = (low, high) != (interval.low, interval.high)
    return ((low - 1) * 100, (high - 1) * 100), widened


def geometric_mean_overhead(ratios: Sequence[float]) -> float:
    """Overhead % from the geometric mean of worse-is-above-1 ratios."""
    usable = [r for r in ratios if r > 0 and math.isfinite(r)]
    if not usable:
        raise ValueError("no positive ratios")
    return (math.exp(math.fsum(math.log(r) for r in usable) / len(usable)) - 1) * 100


def is_noisy(summary: Summary, threshold_pct: float) -> bool:
    """CV above the threshold (the Phoronix Test Suite rule for adding runs)."""
    return summary.cv_pct is not None and summary.cv_pct > threshold_pct


def prefetch_distributions() -> None:
    """Import SciPy's t distribution in a thread while the caller reads the database.

    The import takes about 0.3 s; SQLite releases the GIL while it groups rows.
    """
    threading.Thread(target=_import_distributions, daemon=True).start()


def _import_distributions() -> None:
    import scipy.special  # noqa: F401


def t_cdf(t: float, df: float) -> float:
    """Student-t cumulative distribution function."""
    from scipy.special import stdtr

    return float(stdtr(df, t))


@lru_cache(maxsize=4096)
def t_quantile(p: float, df: float) -> float:
    """Inverse of t_cdf."""
    from scipy.special import stdtrit

    return float(stdtrit(df, p))
