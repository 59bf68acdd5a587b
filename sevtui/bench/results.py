"""Comparison tables: per metric, per benchmark, per category and overall, from stored samples.

A sample is one repetition of a benchmark (never an iteration inside one program run).
A benchmark's overhead is the geometric mean of its headline metrics' ratios; category
and overall means are geometric means over benchmarks, each benchmark once. Other
metrics are shown but never enter the means.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sevtui.base.errors import UsageError
from sevtui.base.values import Direction
from sevtui.bench.facts import RunFacts
from sevtui.bench.stats import (
    ALPHA,
    TREND_ALPHA,
    Comparison,
    LogTerm,
    Summary,
    benjamini_hochberg,
    compare,
    fieller,
    geometric_interval,
    geometric_mean,
    is_noisy,
    launch_share,
    log_term,
    replication,
    summarize,
    time_per_work,
    trend_p,
)
from sevtui.bench.units import convert, units_agree
from sevtui.store.rows import Series

CATEGORY_ORDER = ("cpu", "memory", "io", "network", "exits", "launch", "other")
METHOD = (
    "overhead = ratio of the arithmetic means of time per unit of work (times as measured, "
    "rates inverted: harmonic means) - 1; 95 % CI: Fieller's interval, Welch-Satterthwaite "
    "df, over launches when each side has 2 or more, else over repetitions; benchmark: the "
    "same over each repetition's geometric mean of its headline metrics; category and "
    "overall: geometric means over benchmarks, delta-method CI on the logs; significance: "
    "Benjamini-Hochberg adjusted p < 0.05 over the comparison's rows"
)
LEGEND = (
    "overhead % = how much more time the same work takes on the other profile (positive: "
    "slower); change % (JSON, CSV) = how much the number itself grew (for rates the sign is "
    "the opposite). H headline, * significant after Benjamini-Hochberg, ~ noisy (CV above "
    "the threshold), ! flagged (media, busy or trend; left out of the means)"
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = (
    "other",
    "benchmark",
    "category",
    "metric",
    "unit",
    "direction",
    "headline",
    "base_n",
    "base_mean",
    "other_n",
    "other_mean",
    "change_pct",
    "overhead_pct",
    "ci_low",
    "ci_high",
    "significant",
    "noisy",
    "p_value",
    "p_adjusted",
    "unit_of_replication",
    "flags",
)
"""overhead_pct: more time for the same work (positive: slower); change_pct: how much the
number itself grew (the opposite sign for rates). ci_*: of overhead_pct."""


@dataclass(frozen=True)
class Row:
    """One metric of one benchmark compared between two profiles."""

    benchmark: str
    category: str
    metric: str
    unit: str
    direction: str
    comparison: Comparison
    noisy: bool
    headline: bool
    flags: tuple[str, ...] = ()
    """'media': io work ran on RAM on one side and a disk on the other; 'busy': some
    repetitions ran while another host process used more than 20 % of a core; 'trend':
    a launch's repetitions drift or echo each other (trend_p < 0.01)."""
    trend_p: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON row of `results compare`."""
        c = self.comparison
        return {
            "benchmark": self.benchmark,
            "category": self.category,
            "metric": self.metric,
            "unit": self.unit,
            "direction": self.direction,
            "headline": self.headline,
            "base": c.base.to_json(),
            "other": c.other.to_json(),
            "change_pct": c.change_pct,
            "overhead_pct": c.overhead_pct,
            "overhead_ci95": list(c.overhead_ci95) if c.overhead_ci95 else None,
            "unit_of_replication": c.unit,
            "n_units": list(c.units),
            "p_value": c.p_value,
            "p_adjusted": c.p_adjusted,
            "significant": c.significant,
            "noisy": self.noisy,
            "flags": list(self.flags),
            "trend_p": self.trend_p,
            "reason": c.reason or None,
        }


@dataclass(frozen=True)
class BenchmarkOverhead:
    """One benchmark's overhead: per repetition the geometric mean of its headline
    metrics (time per unit of work), then the ratio of means with Fieller's interval."""

    benchmark: str
    category: str
    overhead_pct: float | None
    overhead_ci95: tuple[float, float] | None
    n_metrics: int
    reason: str = ""
    unit: str = "repetition"
    units: tuple[int, int] = (0, 0)
    flags: tuple[str, ...] = ()
    launch_share: dict[str, float | None] = field(default_factory=dict)
    """Per profile: the share of the variance that lies between launches (None: fewer
    than two launches, so it was not measured)."""
    term: LogTerm | None = None

    @property
    def ratio(self) -> float | None:
        """The worse-is-above-1 ratio behind overhead_pct."""
        return None if self.overhead_pct is None else 1 + self.overhead_pct / 100

    def to_json(self) -> dict[str, Any]:
        """JSON form: enough to recompute the category and overall means by hand."""
        return {
            "benchmark": self.benchmark,
            "category": self.category,
            "overhead_pct": self.overhead_pct,
            "overhead_ci95": list(self.overhead_ci95) if self.overhead_ci95 else None,
            "n_metrics": self.n_metrics,
            "unit_of_replication": self.unit,
            "n_units": list(self.units),
            "flags": list(self.flags),
            "launch_variance_share": self.launch_share,
            "reason": self.reason or None,
        }


@dataclass(frozen=True)
class MeanFigure:
    """A geometric mean over benchmarks (a category, or overall) with its interval and
    the benchmarks left out of it, each with the reason."""

    overhead_pct: float | None
    overhead_ci95: tuple[float, float] | None
    n_benchmarks: int
    excluded: tuple[tuple[str, str], ...] = ()
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        """{overhead_pct, overhead_ci95, n_benchmarks, excluded: [...], reason}."""
        return {
            "overhead_pct": self.overhead_pct,
            "overhead_ci95": list(self.overhead_ci95) if self.overhead_ci95 else None,
            "n_benchmarks": self.n_benchmarks,
            "excluded": [{"benchmark": b, "reason": why} for b, why in self.excluded],
            "reason": self.reason or None,
        }

    def text(self) -> str:
        """+7.11 % [+5.0, +9.2] (4 benchmarks), or why there is no interval."""
        if self.overhead_pct is None:
            return f"n/a ({self.reason})"
        ci = f" [{format_ci(self.overhead_ci95)}]" if self.overhead_ci95 else ""
        note = f"; {self.reason}" if self.reason else ""
        left = f", {len(self.excluded)} left out" if self.excluded and not self.reason else ""
        return f"{self.overhead_pct:+.2f} %{ci} ({self.n_benchmarks} benchmarks{left}{note})"


@dataclass
class ComparisonTable:
    """Everything `results compare` shows for one base and one other profile."""

    base: str
    other: str
    rows: list[Row] = field(default_factory=list)
    benchmarks: list[BenchmarkOverhead] = field(default_factory=list)
    categories: dict[str, MeanFigure] = field(default_factory=dict)
    overall: MeanFigure | None = None
    not_compared: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    modes: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    run_mode: str | None = None

    def unconfirmed(self, profile: str) -> bool:
        """True when PROFILE is a VM whose guest did not confirm its configured kind."""
        mode = self.modes.get(profile)
        return bool(mode and mode["unconfirmed"])

    def to_json(self) -> dict[str, Any]:
        """JSON document."""
        return {
            "base": self.base,
            "other": self.other,
            "method": METHOD,
            "legend": LEGEND,
            "run_mode": self.run_mode,
            "modes": self.modes,
            "warnings": self.warnings,
            "rows": [row.to_json() for row in self.rows],
            "benchmarks": [bench.to_json() for bench in self.benchmarks],
            "categories": {name: mean.to_json() for name, mean in self.categories.items()},
            "overall": self.overall.to_json() if self.overall else None,
            "not_compared": self.not_compared,
        }


@dataclass
class ComparisonSet:
    """One base against one or more other profiles."""

    base: str
    tables: list[ComparisonTable]

    def to_json(self) -> dict[str, Any]:
        """One other: that comparison's object; several: {base, comparisons: [...]}."""
        if len(self.tables) == 1:
            return self.tables[0].to_json()
        return {"base": self.base, "comparisons": [t.to_json() for t in self.tables]}

    def to_json_text(self) -> str:
        """Strict JSON (no NaN or Infinity), one line: large comparisons stay fast to write."""
        return json.dumps(self.to_json(), allow_nan=False) + "\n"

    def to_csv(self) -> str:
        """One line per metric and other profile; text cells escaped against formulas."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for table in self.tables:
            for row in table.rows:
                c = row.comparison
                low, high = c.overhead_ci95 or (None, None)
                writer.writerow(
                    [
                        *map(
                            csv_cell,
                            (
                                table.other,
                                row.benchmark,
                                row.category,
                                row.metric,
                                row.unit,
                                row.direction,
                            ),
                        ),
                        row.headline,
                        c.base.n,
                        c.base.mean,
                        c.other.n,
                        c.other.mean,
                        _rounded(c.change_pct),
                        _rounded(c.overhead_pct),
                        low,
                        high,
                        c.significant,
                        row.noisy,
                        c.p_value,
                        c.p_adjusted,
                        c.unit,
                        " ".join(row.flags),
                    ]
                )
        return out.getvalue()

    def to_markdown(self) -> str:
        """Markdown tables per other profile, with per-benchmark and geometric means."""
        lines: list[str] = []
        for table in self.tables:
            lines += [f"# Overhead of {table.other} relative to {table.base}", ""]
            lines += [f"> {warning}" for warning in table.warnings]
            if table.warnings:
                lines.append("")
            lines += [f"_{LEGEND}_", ""]
            lines += [
                "| category | benchmark | metric | base | other | overhead % | 95 % CI | |",
                "| --- | --- | --- | ---: | ---: | ---: | --- | --- |",
            ]
            for row in table.rows:
                c = row.comparison
                marks = " ".join(
                    m
                    for m, on in (
                        ("headline", row.headline),
                        ("significant", c.significant),
                        ("noisy", row.noisy),
                        *((flag, True) for flag in row.flags),
                    )
                    if on
                )
                lines.append(
                    f"| {row.category} | {row.benchmark} | {row.metric} | "
                    f"{format_value(c.base.mean)} {row.unit} | {format_value(c.other.mean)} "
                    f"{row.unit} | {format_pct(c.overhead_pct)} | {format_ci(c.overhead_ci95)} "
                    f"| {marks} |"
                )
            lines += [
                "",
                "| benchmark | category | overhead % | 95 % CI |",
                "| --- | --- | ---: | --- |",
            ]
            for bench in table.benchmarks:
                lines.append(
                    f"| {bench.benchmark} | {bench.category} | {format_pct(bench.overhead_pct)} "
                    f"| {format_ci(bench.overhead_ci95)} |"
                )
            lines.append("")
            for category, mean in table.categories.items():
                lines.append(f"- {category}: geometric mean over benchmarks {mean.text()}")
            if table.overall is not None:
                lines.append(f"- overall: {table.overall.text()}")
            lines.append("")
        return "\n".join(lines)


def csv_cell(text: str) -> str:
    """A text cell a spreadsheet shows as text, never runs as a formula (OWASP's rule)."""
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def format_value(value: float) -> str:
    """A measured value for people: plain digits, no exponent for everyday magnitudes."""
    if value != 0 and (abs(value) >= 1e9 or abs(value) < 1e-3):
        return f"{value:.3e}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def format_pct(value: float | None) -> str:
    """+1.23, or n/a."""
    return "n/a" if value is None else f"{value:+.2f}"


def format_ci(ci: tuple[float, float] | None) -> str:
    """+1.0..+2.0, or empty."""
    return f"{ci[0]:+.2f}..{ci[1]:+.2f}" if ci else ""


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


MetricKey = tuple[str, str]  # (benchmark, metric)
RepKey = tuple[int, int]  # (run id, repetition)


@dataclass
class _Profile:
    """One profile's samples: metric -> repetition -> value (and launch), with unit."""

    values: dict[MetricKey, dict[RepKey, float]] = field(default_factory=lambda: defaultdict(dict))
    launches: dict[MetricKey, dict[RepKey, int]] = field(default_factory=lambda: defaultdict(dict))
    unit: dict[MetricKey, str] = field(default_factory=dict)

    def launch_groups(self, key: MetricKey, values: Mapping[RepKey, float]) -> list[list[float]]:
        """VALUES grouped by launch ((run, launch)), repetitions in order."""
        launch_of = self.launches[key]
        groups: dict[tuple[int, int], list[float]] = defaultdict(list)
        for rep in sorted(values):
            groups[(rep[0], launch_of.get(rep, 1))].append(values[rep])
        return [groups[launch] for launch in sorted(groups)]


def profiles(series: Iterable[Series]) -> list[str]:
    """The targets (profiles) that have measurements, in first-seen order."""
    return list(dict.fromkeys(s.target for s in series))


def summaries(series: list[Series]) -> dict[tuple[str, str, str], Summary]:
    """(target, benchmark, metric) -> summary of its per-repetition values."""
    return {(s.target, s.benchmark, s.metric): summarize(list(s.values.values())) for s in series}


def build_comparisons(
    series: list[Series],
    base: str,
    others: list[str],
    noisy_cv_pct: float,
    headlines: Mapping[str, str] | None = None,
    facts: RunFacts | None = None,
) -> ComparisonSet:
    """Compare BASE with each of OTHERS; HEADLINES maps benchmark -> headline metric regex."""
    known = profiles(series)
    for name, flag in ((base, "--base"), *((o, "--other") for o in others)):
        if name not in known:
            raise UsageError(
                f"{flag} {name!r} has no measurements in these runs "
                f"(profiles: {', '.join(known) or 'none'})",
                "pick profiles that were measured (see `sevtui results show RUN`)",
            )
    if base in others:
        raise UsageError(
            f"--base and --other are both {base!r}: a profile compared with itself says nothing",
            "pick two different profiles",
        )
    by_profile, meta = _index(series)
    rules = _Rules(noisy_cv_pct, headlines or {}, facts or RunFacts())
    tables = [_build_table(by_profile, meta, base, other, rules) for other in dict.fromkeys(others)]
    return ComparisonSet(base, tables)


def build_comparison(
    series: list[Series],
    base: str,
    other: str,
    noisy_cv_pct: float,
    headlines: Mapping[str, str] | None = None,
    facts: RunFacts | None = None,
) -> ComparisonTable:
    """Compare two profiles (see build_comparisons)."""
    return build_comparisons(series, base, [other], noisy_cv_pct, headlines, facts).tables[0]


_Meta = dict[MetricKey, tuple[str, str]]  # (category, direction)


def _index(series: list[Series]) -> tuple[dict[str, _Profile], _Meta]:
    """Per profile, every metric's values in the first unit seen for it (converted)."""
    by_profile: dict[str, _Profile] = defaultdict(_Profile)
    meta: _Meta = {}
    for s in series:
        key = (s.benchmark, s.metric)
        profile = by_profile[s.target]
        unit = profile.unit.setdefault(key, s.unit)
        profile.launches[key].update(s.launches)
        if unit == s.unit:
            profile.values[key].update(s.values)
        else:
            for rep, value in s.values.items():
                converted = convert(value, s.unit, unit)
                profile.values[key][rep] = math.nan if converted is None else converted
        meta.setdefault(key, (s.category, s.direction))
    return by_profile, meta


@dataclass(frozen=True)
class _Rules:
    """How rows are judged: the noise threshold, headline metrics, where the work ran."""

    noisy_cv_pct: float
    headlines: Mapping[str, str]
    facts: RunFacts


def _build_table(
    by_profile: dict[str, _Profile], meta: _Meta, base: str, other: str, rules: _Rules
) -> ComparisonTable:
    facts = rules.facts
    table = ComparisonTable(
        base,
        other,
        warnings=facts.warnings(base, other),
        modes={name: facts.mode_json(name) for name in (base, other)},
        run_mode=facts.run_mode,
    )
    b, o = by_profile[base], by_profile[other]
    keys = sorted(meta, key=lambda key: (_rank(meta[key][0]), key))
    for key in keys:
        benchmark, metric = key
        if key not in b.values or key not in o.values:
            table.not_compared.append(f"{benchmark}: {metric} (measured on one side only)")
            continue
        row = _metric_row(b, o, key, meta[key], rules)
        if isinstance(row, str):
            table.not_compared.append(f"{benchmark}: {metric} ({row})")
            continue
        table.rows.append(_flagged(row, facts, base, other))
    table.rows = _trends(_adjusted(table.rows))
    _benchmark_means(table, b, o)
    return table


def _flagged(row: Row, facts: RunFacts, base: str, other: str) -> Row:
    """ROW with its media, busy and trend flags."""
    busy = facts.busy.get((base, row.benchmark)) or facts.busy.get((other, row.benchmark))
    flags = [
        name
        for name, on in (
            ("media", row.category == "io" and facts.media_differ(base, other)),
            ("busy", bool(busy)),
        )
        if on
    ]
    return replace(row, flags=tuple(flags))


def _trends(rows: list[Row]) -> list[Row]:
    """Rows whose series drift or echo themselves get the `trend` flag: each row's
    trend p (the smallest over its launches and sides, Bonferroni-corrected within the
    row) is adjusted by Benjamini-Hochberg over the comparison, at a 5 % false discovery
    rate, so a long table does not flag rows by chance."""
    adjusted = benjamini_hochberg([row.trend_p for row in rows])
    return [
        replace(row, flags=(*row.flags, "trend")) if p is not None and p < TREND_ALPHA else row
        for row, p in zip(rows, adjusted, strict=True)
    ]


def _adjusted(rows: list[Row]) -> list[Row]:
    """Rows with Benjamini-Hochberg adjusted p-values; significance follows them."""
    adjusted = benjamini_hochberg([row.comparison.p_value for row in rows])
    return [
        replace(
            row,
            comparison=replace(
                row.comparison,
                p_adjusted=p,
                significant=None if p is None else p < ALPHA,
            ),
        )
        for row, p in zip(rows, adjusted, strict=True)
    ]


def _metric_row(
    b: _Profile, o: _Profile, key: MetricKey, kind: tuple[str, str], rules: _Rules
) -> Row | str:
    """One metric's row, or why it cannot be compared; KIND is (category, direction)."""
    category, direction = kind
    base_unit, other_unit = b.unit[key], o.unit[key]
    if not units_agree(base_unit, other_unit):
        return f"units differ and cannot be converted: {base_unit!r} vs {other_unit!r}"
    other_values = _in_unit(o.values[key], other_unit, base_unit)
    if other_values is None or any(
        math.isnan(v) for v in [*b.values[key].values(), *other_values.values()]
    ):
        return "mixed units inside one profile"
    base_groups = b.launch_groups(key, b.values[key])
    other_groups = o.launch_groups(key, other_values)
    way: Direction = "lower" if direction == "lower" else "higher"
    comparison = compare(base_groups, other_groups, way)
    noisy = any(is_noisy(s, rules.noisy_cv_pct) for s in (comparison.base, comparison.other))
    pattern = rules.headlines.get(key[0], "")
    headline = not pattern or re.search(pattern, key[1]) is not None
    trends = [p for g in (*base_groups, *other_groups) if (p := trend_p(g)) is not None]
    return Row(
        key[0],
        category,
        key[1],
        base_unit,
        direction,
        comparison,
        noisy,
        headline,
        trend_p=min(1.0, min(trends) * len(trends)) if trends else None,
    )


def _in_unit(values: Mapping[RepKey, float], unit: str, wanted: str) -> dict[RepKey, float] | None:
    """VALUES converted from UNIT to WANTED (None when one cannot be)."""
    if unit == wanted:
        return dict(values)
    converted = {rep: convert(value, unit, wanted) for rep, value in values.items()}
    if any(value is None for value in converted.values()):
        return None
    return {rep: value for rep, value in converted.items() if value is not None}


def _benchmark_means(table: ComparisonTable, b: _Profile, o: _Profile) -> None:
    """Per-benchmark overheads from headline rows, then category and overall means."""
    per_bench: dict[str, list[Row]] = defaultdict(list)
    for row in table.rows:
        if row.headline:
            per_bench[row.benchmark].append(row)
    for benchmark, rows in per_bench.items():
        table.benchmarks.append(_benchmark_overhead(benchmark, rows, (b, o), table))
    by_category: dict[str, list[BenchmarkOverhead]] = defaultdict(list)
    for bench in table.benchmarks:
        by_category[bench.category].append(bench)
    for category in sorted(by_category, key=_rank):
        table.categories[category] = mean_over(by_category[category])
    table.overall = mean_over(table.benchmarks) if table.benchmarks else None


def mean_over(benchmarks: list[BenchmarkOverhead]) -> MeanFigure:
    """The geometric mean over BENCHMARKS with a delta-method CI. Benchmarks without an
    interval (fewer than 2 units on a side) or with a flag stay out and are listed with
    the reason; when none has an interval, the mean of the unflagged ones is given
    without one."""
    included, excluded = [], []
    for bench in benchmarks:
        why = _why_excluded(bench)
        if why:
            excluded.append((bench.benchmark, why))
        else:
            included.append(bench)
    if included:
        terms = [bench.term for bench in included if bench.term is not None]
        ratio, (low, high) = geometric_interval(terms)
        return MeanFigure(
            (ratio - 1) * 100,
            ((low - 1) * 100, (high - 1) * 100),
            len(included),
            tuple(excluded),
        )
    usable = [bench for bench in benchmarks if bench.ratio is not None and not bench.flags]
    if not usable:
        why = (
            "every benchmark is left out: flagged, or without an overhead"
            if benchmarks
            else "no benchmark to average"
        )
        return MeanFigure(None, None, 0, tuple(excluded), why)
    ratio = geometric_mean([bench.ratio for bench in usable if bench.ratio is not None])
    return MeanFigure(
        (ratio - 1) * 100,
        None,
        len(usable),
        tuple(excluded),
        "no benchmark has 2 or more repetitions (or launches) on each side: no interval",
    )


def _why_excluded(bench: BenchmarkOverhead) -> str:
    if bench.ratio is None:
        return bench.reason or "no overhead"
    if bench.flags:
        return f"flagged {', '.join(bench.flags)}"
    if bench.term is None:
        return bench.reason or "fewer than 2 repetitions (or launches) on a side"
    return ""


def _benchmark_overhead(
    benchmark: str, rows: list[Row], sides: tuple[_Profile, _Profile], table: ComparisonTable
) -> BenchmarkOverhead:
    """The benchmark's figure over each repetition's geometric mean of its headline
    metrics, each as time per unit of work in the base's unit, normalised by the base's
    mean (a constant for both sides, so the ratio and Fieller's interval are exactly the
    metric's when there is one headline metric)."""
    category = rows[0].category
    flags = tuple(dict.fromkeys(flag for row in rows for flag in row.flags))
    groups = [_score_groups(rows, profile, sides[0]) for profile in sides]
    if not groups[0] or not groups[1]:
        return BenchmarkOverhead(
            benchmark,
            category,
            None,
            None,
            len(rows),
            "no repetition measured every headline metric",
            flags=flags,
        )
    unit, mean_b, mean_o = replication(groups[0], groups[1])
    shares = {
        name: launch_share(g) for name, g in zip((table.base, table.other), groups, strict=True)
    }
    figure = fieller(mean_b, mean_o)
    if isinstance(figure, str):
        return BenchmarkOverhead(benchmark, category, None, None, len(rows), figure, flags=flags)
    ci = None if figure.ci is None else ((figure.ci[0] - 1) * 100, (figure.ci[1] - 1) * 100)
    return BenchmarkOverhead(
        benchmark,
        category,
        (figure.ratio - 1) * 100,
        ci,
        len(rows),
        figure.reason,
        unit,
        (mean_b.n, mean_o.n),
        flags,
        shares,
        log_term(figure.ratio, mean_b, mean_o) if ci is not None else None,
    )


def _score_groups(rows: list[Row], profile: _Profile, base: _Profile) -> list[list[float]]:
    """Per launch, per repetition that measured every headline metric: the geometric
    mean of the metrics as time per unit of work over the base's mean of the same."""
    logs: dict[RepKey, list[float]] = defaultdict(list)
    launch_of: dict[RepKey, int] = {}
    for row in rows:
        key = (row.benchmark, row.metric)
        values = _in_unit(profile.values[key], profile.unit[key], row.unit) or {}
        norm = _base_time(base, key, row.direction)
        for rep, value in values.items():
            time = time_per_work(value, "lower" if row.direction == "lower" else "higher")
            if time is not None and time > 0 and norm:
                logs[rep].append(math.log(time / norm))
                launch_of[rep] = profile.launches[key].get(rep, 1)
    groups: dict[tuple[int, int], list[float]] = defaultdict(list)
    for rep in sorted(logs):
        if len(logs[rep]) == len(rows):
            groups[(rep[0], launch_of[rep])].append(math.exp(math.fsum(logs[rep]) / len(rows)))
    return [groups[launch] for launch in sorted(groups)]


def _base_time(base: _Profile, key: MetricKey, direction: str) -> float | None:
    """The base's mean time per unit of work for one metric (a normalising constant)."""
    times = [
        t
        for v in base.values[key].values()
        if (t := time_per_work(v, "lower" if direction == "lower" else "higher")) is not None
    ]
    return math.fsum(times) / len(times) if times else None


def _rank(category: str) -> int:
    return CATEGORY_ORDER.index(category) if category in CATEGORY_ORDER else len(CATEGORY_ORDER)
