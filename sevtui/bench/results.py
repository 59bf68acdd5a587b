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

from sevtui.bench.stats import (
    Comparison,
    Summary,
    compare,
    geometric_mean_overhead,
    is_noisy,
    log_welch,
    overhead_interval,
    summarize,
)
from sevtui.bench.units import convert, units_agree
from sevtui.errors import UsageError
from sevtui.store import RunFacts, Series

CATEGORY_ORDER = ("cpu", "memory", "io", "launch", "other")
METHOD = (
    "overhead = ratio of arithmetic means (other/base for times, base/other for rates) - 1; "
    "95 % CI from Welch's t on the log values, mapped back; benchmark = geometric mean of its "
    "headline metrics; category and overall = geometric means over benchmarks"
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


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
    repetitions ran while another host process used more than 20 % of a core."""

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
            "ci_widened": c.ci_widened,
            "p_value": c.p_value,
            "significant": c.significant,
            "noisy": self.noisy,
            "flags": list(self.flags),
            "reason": c.reason or None,
        }


@dataclass(frozen=True)
class BenchmarkOverhead:
    """One benchmark's overhead: the geometric mean of its headline metrics' ratios."""

    benchmark: str
    category: str
    overhead_pct: float | None
    overhead_ci95: tuple[float, float] | None
    n_metrics: int
    ci_widened: bool = False
    reason: str = ""

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
            "ci_widened": self.ci_widened,
            "reason": self.reason or None,
        }


@dataclass
class ComparisonTable:
    """Everything `results compare` shows for one base and one other profile."""

    base: str
    other: str
    rows: list[Row] = field(default_factory=list)
    benchmarks: list[BenchmarkOverhead] = field(default_factory=list)
    categories: dict[str, float] = field(default_factory=dict)
    overall: float | None = None
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
            "run_mode": self.run_mode,
            "modes": self.modes,
            "warnings": self.warnings,
            "rows": [row.to_json() for row in self.rows],
            "benchmarks": [bench.to_json() for bench in self.benchmarks],
            "categories": self.categories,
            "overall_overhead_pct": self.overall,
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
        writer.writerow(
            [
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
            ]
        )
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
                    ]
                )
        return out.getvalue()

    def to_markdown(self) -> str:
        """Markdown tables per other profile, with per-benchmark and geometric means."""
        lines: list[str] = []
        for table in self.tables:
            lines += [f"# Overhead of {table.other} relative to {table.base}", ""]
            lines += [f"> {warning}" for warning in table.warnings]
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
            for category, overhead in table.categories.items():
                lines.append(f"- {category}: geometric mean overhead {overhead:+.2f} %")
            if table.overall is not None:
                lines.append(f"- overall: {table.overall:+.2f} %")
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


@dataclass
class _Profile:
    """One profile's samples: metric -> repetition -> value, with unit and direction."""

    values: dict[MetricKey, dict[tuple[int, int], float]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    unit: dict[MetricKey, str] = field(default_factory=dict)


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
    by_profile: dict[str, _Profile] = defaultdict(_Profile)
    meta: _Meta = {}
    for s in series:
        key = (s.benchmark, s.metric)
        profile = by_profile[s.target]
        unit = profile.unit.setdefault(key, s.unit)
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
        category = meta[key][0]
        if key not in b.values or key not in o.values:
            table.not_compared.append(f"{benchmark}: {metric} (measured on one side only)")
            continue
        row = _metric_row(b, o, key, meta[key], rules)
        if isinstance(row, str):
            table.not_compared.append(f"{benchmark}: {metric} ({row})")
            continue
        flags = [
            name
            for name, on in (
                ("media", category == "io" and facts.media_differ(base, other)),
                (
                    "busy",
                    bool(facts.busy.get((base, benchmark)) or facts.busy.get((other, benchmark))),
                ),
            )
            if on
        ]
        table.rows.append(replace(row, flags=tuple(flags)))
    _benchmark_means(table, b, o)
    return table


def _metric_row(
    b: _Profile, o: _Profile, key: MetricKey, kind: tuple[str, str], rules: _Rules
) -> Row | str:
    """One metric's row, or why it cannot be compared; KIND is (category, direction)."""
    category, direction = kind
    base_unit, other_unit = b.unit[key], o.unit[key]
    if not units_agree(base_unit, other_unit):
        return f"units differ and cannot be converted: {base_unit!r} vs {other_unit!r}"
    base_values = list(b.values[key].values())
    other_values = [
        v if other_unit == base_unit else convert(v, other_unit, base_unit)
        for v in o.values[key].values()
    ]
    clean_other = [v for v in other_values if v is not None]
    if any(math.isnan(v) for v in base_values + clean_other) or len(clean_other) != len(
        other_values
    ):
        return "mixed units inside one profile"
    comparison = compare(base_values, clean_other, "lower" if direction == "lower" else "higher")
    noisy = any(is_noisy(s, rules.noisy_cv_pct) for s in (comparison.base, comparison.other))
    pattern = rules.headlines.get(key[0], "")
    headline = not pattern or re.search(pattern, key[1]) is not None
    return Row(key[0], category, key[1], base_unit, direction, comparison, noisy, headline)


def _benchmark_means(table: ComparisonTable, b: _Profile, o: _Profile) -> None:
    """Per-benchmark overheads from headline rows, then category and overall means."""
    per_bench: dict[str, list[Row]] = defaultdict(list)
    for row in table.rows:
        if row.headline:
            per_bench[row.benchmark].append(row)
    for benchmark, rows in per_bench.items():
        table.benchmarks.append(_benchmark_overhead(benchmark, rows, b, o))
    ratios: dict[str, list[float]] = defaultdict(list)
    for bench in table.benchmarks:
        if bench.ratio is not None:
            ratios[bench.category].append(bench.ratio)
    for category in sorted(ratios, key=_rank):
        table.categories[category] = geometric_mean_overhead(ratios[category])
    every = [r for values in ratios.values() for r in values]
    table.overall = geometric_mean_overhead(every) if every else None


def _benchmark_overhead(
    benchmark: str, rows: list[Row], b: _Profile, o: _Profile
) -> BenchmarkOverhead:
    category = rows[0].category
    ratios = [row.comparison.ratio for row in rows]
    if any(r is None for r in ratios):
        return BenchmarkOverhead(
            benchmark, category, None, None, len(rows), reason="a headline metric has no ratio"
        )
    ratio = math.exp(math.fsum(math.log(r) for r in ratios if r is not None) / len(rows))
    if len(rows) == 1:
        c = rows[0].comparison
        return BenchmarkOverhead(
            benchmark, category, (ratio - 1) * 100, c.overhead_ci95, 1, c.ci_widened, c.reason
        )
    base_scores = _scores(rows, b)
    other_scores = _scores(rows, o)
    interval = log_welch(base_scores, other_scores)
    if isinstance(interval, str):
        return BenchmarkOverhead(
            benchmark, category, (ratio - 1) * 100, None, len(rows), reason=interval
        )
    ci, widened = overhead_interval(ratio, interval)
    reason = "CI widened to contain the geometric mean of the ratios" if widened else ""
    return BenchmarkOverhead(benchmark, category, (ratio - 1) * 100, ci, len(rows), widened, reason)


def _scores(rows: list[Row], profile: _Profile) -> list[float]:
    """Per repetition, the geometric mean of the headline metrics, oriented worse-is-higher.

    Only repetitions that measured every headline metric count; the log-scale Welch
    interval over these scores is the benchmark's CI.
    """
    per_rep: dict[tuple[int, int], list[float]] = defaultdict(list)
    for row in rows:
        sign = 1.0 if row.direction == "lower" else -1.0
        for rep, value in profile.values[(row.benchmark, row.metric)].items():
            if value > 0:
                per_rep[rep].append(sign * math.log(value))
    return [
        math.exp(math.fsum(logs) / len(logs)) for logs in per_rep.values() if len(logs) == len(rows)
    ]


def _rank(category: str) -> int:
    return CATEGORY_ORDER.index(category) if category in CATEGORY_ORDER else len(CATEGORY_ORDER)
