"""Statistics a methodology reviewer accepts (Kalibera & Jones, ISMM 2013).

Pure functions over lists of floats. The Student-t distribution comes from SciPy
(`scipy.special.stdtrit` / `stdtr`), imported on first use so start-up does not pay for it.

Overhead is how much more *time for the same work* OTHER needs: times are taken as they
are, rates are inverted (their arithmetic mean of times per unit of work is the harmonic
mean of the rates). The figure is the ratio of the two arithmetic means, and its 95 % CI
is Fieller's interval for a ratio of independent means, with a Welch-Satterthwaite df;
it always contains the estimate. The unit of replication is the highest level that
varied: launches (QEMU processes, host batches) when each side has two or more, else
repetitions. Means over benchmarks are geometric, with a delta-method interval on the
logs. Significance marks use Benjamini-Hochberg adjusted p-values.
"""

from __future__ import annotations

import itertools
import math
import statistics
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from sevtui.base.values import Direction

CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE
TREND_ALPHA = 0.05
"""The false discovery rate at which rows whose repetitions drift (slope) or echo each
other (lag-1 autocorrelation) are flagged `trend` and left out of the means."""
MIN_TREND_N = 5


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
class Mean:
    """The mean of N independent units, the variance of that mean and its df (n - 1)."""

    value: float
    var: float | None
    n: int

    @property
    def df(self) -> int:
        """Degrees of freedom of the variance."""
        return self.n - 1


def mean_of(values: Sequence[float]) -> Mean:
    """The mean of VALUES with the variance of the mean (None for one value)."""
    n = len(values)
    mean = math.fsum(values) / n
    if n < 2:
        return Mean(mean, None, n)
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    return Mean(mean, var / n, n)


@dataclass(frozen=True)
class Comparison:
    """Base vs other for one metric; positive overhead means `other` needs more time.

    `ratio` and `overhead_pct` are None when undefined (a zero mean); `overhead_ci95` is
    None when no interval exists, and `reason` says why. `unit` is the unit of
    replication the interval and p-value were computed over, `units` how many of them
    each side had (base, other).
    """

    base: Summary
    other: Summary
    change_pct: float | None
    ratio: float | None
    overhead_pct: float | None
    overhead_ci95: tuple[float, float] | None
    p_value: float | None
    significant: bool | None
    reason: str = ""
    unit: str = "repetition"
    units: tuple[int, int] = (0, 0)
    p_adjusted: float | None = None
    base_mean: Mean | None = None
    other_mean: Mean | None = None
    """The two means of time per unit of work the ratio came from (for the means above)."""


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


def time_per_work(value: float, direction: Direction) -> float | None:
    """VALUE as time per unit of work: a time as it is, a rate inverted (None for 0)."""
    if direction == "lower":
        return value
    return 1.0 / value if value > 0 else None


@dataclass(frozen=True)
class Ratio:
    """OTHER's mean over BASE's, with Fieller's 95 % CI and Welch's p (or why not)."""

    ratio: float
    ci: tuple[float, float] | None
    p_value: float | None
    reason: str = ""


def fieller(base: Mean, other: Mean) -> Ratio | str:
    """Fieller's interval for other.value / base.value, independent samples.

    df: Welch-Satterthwaite for the variance of (other - ratio * base). With g >= 1 the
    base mean is not significantly above zero and the interval is unbounded: no CI.
    """
    if base.value <= 0 or other.value <= 0:
        return "a mean is zero or negative: no ratio"
    ratio = other.value / base.value
    if base.var is None or other.var is None:
        return Ratio(ratio, None, None, "an interval needs at least 2 units on each side")
    vb, vo = base.var, other.var
    spread = vo + ratio**2 * vb
    if spread == 0:
        return Ratio(ratio, (ratio, ratio), 0.0 if ratio != 1 else 1.0)
    df = spread**2 / (vo**2 / other.df + ratio**4 * vb**2 / base.df)
    t = t_quantile(0.5 + CONFIDENCE / 2, df)
    g = t**2 * vb / base.value**2
    if g >= 1:
        return Ratio(
            ratio, None, welch_p(base, other), "the base mean is not significantly above zero"
        )
    half = t / base.value * math.sqrt(vo * (1 - g) + ratio**2 * vb)
    # Below zero the other mean is not significantly above zero: a time ratio stops at 0.
    low = max((ratio - half) / (1 - g), 0.0)
    return Ratio(ratio, (low, (ratio + half) / (1 - g)), welch_p(base, other))


def welch_p(base: Mean, other: Mean) -> float | None:
    """Two-sided p of Welch's t-test that the two means are equal."""
    if base.var is None or other.var is None:
        return None
    se2 = base.var + other.var
    if se2 == 0:
        return 0.0 if base.value != other.value else 1.0
    df = se2**2 / (base.var**2 / base.df + other.var**2 / other.df)
    t = (other.value - base.value) / math.sqrt(se2)
    return 2 * t_cdf(-abs(t), df)


def compare(
    base: Sequence[Sequence[float]], other: Sequence[Sequence[float]], direction: Direction
) -> Comparison:
    """OTHER vs BASE, each a list of launches, each launch a list of repetition values.

    With two or more launches on each side the interval is taken over the launches'
    means; otherwise over all repetitions."""
    flat_b = [v for launch in base for v in launch]
    flat_o = [v for launch in other for v in launch]
    b, o = summarize(flat_b), summarize(flat_o)
    change = (o.mean - b.mean) / b.mean * 100 if b.mean else None
    times_b = [[time_per_work(v, direction) for v in launch] for launch in base if launch]
    times_o = [[time_per_work(v, direction) for v in launch] for launch in other if launch]
    if any(t is None for launch in [*times_b, *times_o] for t in launch):
        return Comparison(b, o, change, None, None, None, None, None, "a rate is zero: no ratio")
    unit, mean_b, mean_o = replication(
        [[t for t in launch if t is not None] for launch in times_b],
        [[t for t in launch if t is not None] for launch in times_o],
    )
    figure = fieller(mean_b, mean_o)
    if isinstance(figure, str):
        return Comparison(b, o, change, None, None, None, None, None, figure)
    return Comparison(
        b,
        o,
        change,
        figure.ratio,
        (figure.ratio - 1) * 100,
        None if figure.ci is None else ((figure.ci[0] - 1) * 100, (figure.ci[1] - 1) * 100),
        figure.p_value,
        None if figure.p_value is None else figure.p_value < ALPHA,
        figure.reason,
        unit,
        (mean_b.n, mean_o.n),
        base_mean=mean_b,
        other_mean=mean_o,
    )


def replication(
    base: Sequence[Sequence[float]], other: Sequence[Sequence[float]]
) -> tuple[str, Mean, Mean]:
    """The unit of replication and each side's mean over it: launches when both sides
    have two or more, else repetitions."""
    if len(base) >= 2 and len(other) >= 2:
        means_b = [math.fsum(launch) / len(launch) for launch in base]
        means_o = [math.fsum(launch) / len(launch) for launch in other]
        return "launch", mean_of(means_b), mean_of(means_o)
    flat_b = [v for launch in base for v in launch]
    flat_o = [v for launch in other for v in launch]
    return "repetition", mean_of(flat_b), mean_of(flat_o)


@dataclass(frozen=True)
class LogTerm:
    """One benchmark in a mean over benchmarks: its log ratio and the two variance
    components of that log (delta method: var(mean) / mean**2) with their df."""

    log_ratio: float
    parts: tuple[tuple[float, int], ...]


def log_term(ratio: float, base: Mean, other: Mean) -> LogTerm | None:
    """A benchmark's LogTerm, or None when a side has no variance (one unit)."""
    if base.var is None or other.var is None:
        return None
    return LogTerm(
        math.log(ratio),
        ((base.var / base.value**2, base.df), (other.var / other.value**2, other.df)),
    )


def geometric_interval(terms: Sequence[LogTerm]) -> tuple[float, tuple[float, float]]:
    """Geometric mean ratio of TERMS and its 95 % CI: delta method on the logs (the
    benchmarks are independent), Welch-Satterthwaite df over every variance part."""
    m = len(terms)
    center = math.fsum(term.log_ratio for term in terms) / m
    parts = [part for term in terms for part in term.parts]
    total = math.fsum(var for var, _df in parts)
    if total == 0:
        return math.exp(center), (math.exp(center), math.exp(center))
    df = total**2 / math.fsum(var**2 / df for var, df in parts if var > 0)
    half = t_quantile(0.5 + CONFIDENCE / 2, df) * math.sqrt(total) / m
    return math.exp(center), (math.exp(center - half), math.exp(center + half))


def geometric_mean(ratios: Sequence[float]) -> float:
    """The geometric mean of positive RATIOS."""
    return math.exp(math.fsum(math.log(r) for r in ratios) / len(ratios))


def benjamini_hochberg(p_values: Sequence[float | None]) -> list[float | None]:
    """BH-adjusted p-values (false discovery rate) over the p-values that exist."""
    indexed = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(indexed)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 1.0
    for rank in range(m, 0, -1):
        p, index = indexed[rank - 1]
        running = min(running, p * m / rank)
        adjusted[index] = running
    return adjusted


def trend_p(values: Sequence[float]) -> float | None:
    """The smaller p of two checks on a series in repetition order: a linear trend
    (OLS slope t-test) and lag-1 autocorrelation (normal approximation); None when the
    series is shorter than MIN_TREND_N or constant."""
    n = len(values)
    if n < MIN_TREND_N:
        return None
    mean = math.fsum(values) / n
    centered = [v - mean for v in values]
    total = math.fsum(c * c for c in centered)
    if total == 0:
        return None
    xs = [i - (n - 1) / 2 for i in range(n)]
    sxx = math.fsum(x * x for x in xs)
    slope = math.fsum(x * c for x, c in zip(xs, centered, strict=True)) / sxx
    residual = max(total - slope**2 * sxx, 0.0)
    if residual == 0:
        slope_p = 0.0
    else:
        se = math.sqrt(residual / (n - 2) / sxx)
        slope_p = 2 * t_cdf(-abs(slope / se), n - 2)
    lag1 = math.fsum(a * b for a, b in itertools.pairwise(centered)) / total
    auto_p = math.erfc(abs(lag1) * math.sqrt(n) / math.sqrt(2))
    return min(slope_p, auto_p)


def launch_share(launches: Sequence[Sequence[float]]) -> float | None:
    """Share of the variance that lies between launches (one-way random-effects ANOVA,
    unbalanced: sigma2_launch = (MSB - MSW) / n0, floored at 0); None with fewer than two
    launches or no repetition inside any."""
    groups = [list(g) for g in launches if g]
    k = len(groups)
    total_n = sum(len(g) for g in groups)
    if k < 2 or total_n - k < 1:
        return None
    grand = math.fsum(v for g in groups for v in g) / total_n
    means = [math.fsum(g) / len(g) for g in groups]
    ssb = math.fsum(len(g) * (m - grand) ** 2 for g, m in zip(groups, means, strict=True))
    ssw = math.fsum((v - m) ** 2 for g, m in zip(groups, means, strict=True) for v in g)
    msb, msw = ssb / (k - 1), ssw / (total_n - k)
    n0 = (total_n - math.fsum(len(g) ** 2 for g in groups) / total_n) / (k - 1)
    between = max((msb - msw) / n0, 0.0)
    if between + msw == 0:
        return 0.0
    return between / (between + msw)


def two_stage_n(pilots: Sequence[Sequence[float]], precision_pct: float, cap: int) -> int:
    """Stein's two-stage rule: from each pilot (one per headline metric), the number of
    repetitions whose 95 % CI half-width is below PRECISION_PCT of the mean, decided once
    and capped at CAP (at least as many as the pilot, and 3, so the measured sample has a
    usable interval). The pilot runs themselves are not analysed, so the measured
    sample's size does not depend on its own spread and its interval keeps its coverage."""
    least = max([3, *(len(values) for values in pilots)])
    need = least
    for values in pilots:
        if len(values) < 2:
            continue
        summary = summarize(values)
        if summary.sd is None or summary.mean <= 0:
            continue
        t = t_quantile(0.5 + CONFIDENCE / 2, len(values) - 1)
        need = max(need, math.ceil((t * summary.sd / summary.mean * 100 / precision_pct) ** 2))
    return max(min(need, cap), 0)


def is_noisy(summary: Summary, threshold_pct: float) -> bool:
    """CV above the threshold: flagged `~` in every view (repetitions are not added)."""
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
