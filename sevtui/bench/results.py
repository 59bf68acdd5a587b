"""Comparison tables: per metric, per category and overall, from stored measurements."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sevtui.bench.stats import Comparison, Summary, compare, geometric_mean_overhead, summarize
from sevtui.errors import UsageError
from sevtui.store import Measurement

CATEGORY_ORDER = ("cpu", "memory", "io", "other")


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

    def to_json(self) -> dict[str, Any]:
        """The JSON row of `results compare`."""
        c = self.comparison
        return {
            "benchmark": self.benchmark,
            "category": self.category,
            "metric": self.metric,
            "unit": self.unit,
            "direction": self.direction,
            "base": c.base.to_json(),
            "other": c.other.to_json(),
            "change_pct": c.change_pct,
            "overhead_pct": c.overhead_pct,
            "overhead_ci95": list(c.overhead_ci95) if c.overhead_ci95 else None,
            "p_value": c.p_value,
            "significant": c.significant,
            "noisy": self.noisy,
        }


@dataclass
class ComparisonTable:
    """Everything `results compare` shows."""

    base: str
    other: str
    rows: list[Row] = field(default_factory=list)
    categories: dict[str, float] = field(default_factory=dict)
    overall: float | None = None
    only_in_one: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """JSON document."""
        return {
            "base": self.base,
            "other": self.other,
            "rows": [row.to_json() for row in self.rows],
            "categories": self.categories,
            "overall_overhead_pct": self.overall,
            "only_in_one": self.only_in_one,
        }

    def to_csv(self) -> str:
        """One line per metric."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(
            [
                "benchmark",
                "category",
                "metric",
                "unit",
                "direction",
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
        for row in self.rows:
            c = row.comparison
            low, high = c.overhead_ci95 or (None, None)
            writer.writerow(
                [
                    row.benchmark,
                    row.category,
                    row.metric,
                    row.unit,
                    row.direction,
                    c.base.n,
                    c.base.mean,
                    c.other.n,
                    c.other.mean,
                    round(c.change_pct, 4),
                    round(c.overhead_pct, 4),
                    low,
                    high,
                    c.significant,
                    row.noisy,
                ]
            )
        return out.getvalue()

    def to_markdown(self) -> str:
        """A Markdown table grouped by category with geometric means."""
        lines = [
            f"# Overhead of {self.other} relative to {self.base}",
            "",
            "| category | benchmark | metric | base | other | overhead % | 95 % CI | |",
            "| --- | --- | --- | ---: | ---: | ---: | --- | --- |",
        ]
        for row in self.rows:
            c = row.comparison
            ci = (
                f"{c.overhead_ci95[0]:+.2f} .. {c.overhead_ci95[1]:+.2f}" if c.overhead_ci95 else ""
            )
            marks = " ".join(
                m for m, on in (("significant", c.significant), ("noisy", row.noisy)) if on
            )
            lines.append(
                f"| {row.category} | {row.benchmark} | {row.metric} | {c.base.mean:.4g} {row.unit} "
                f"| {c.other.mean:.4g} {row.unit} | {c.overhead_pct:+.2f} | {ci} | {marks} |"
            )
        lines.append("")
        for category, overhead in self.categories.items():
            lines.append(f"- {category}: geometric mean overhead {overhead:+.2f} %")
        if self.overall is not None:
            lines.append(f"- overall: {self.overall:+.2f} %")
        return "\n".join(lines) + "\n"

    def to_json_text(self) -> str:
        """Indented JSON text."""
        return json.dumps(self.to_json(), indent=2)


def _group(measurements: list[Measurement]) -> dict[tuple[str, str, str], list[Measurement]]:
    grouped: dict[tuple[str, str, str], list[Measurement]] = defaultdict(list)
    for m in measurements:
        grouped[(m.target, m.benchmark, m.metric)].append(m)
    return grouped


def profiles(measurements: list[Measurement]) -> list[str]:
    """The targets (profiles) that have measurements, in first-seen order."""
    return list(dict.fromkeys(m.target for m in measurements))


def summaries(measurements: list[Measurement]) -> dict[tuple[str, str, str], Summary]:
    """(target, benchmark, metric) -> summary of its values."""
    return {key: summarize([m.value for m in group]) for key, group in _group(measurements).items()}


def build_comparison(
    measurements: list[Measurement], base: str, other: str, noisy_cv_pct: float
) -> ComparisonTable:
    """Compare two profiles metric by metric; geometric means per category and overall."""
    known = profiles(measurements)
    for name, flag in ((base, "--base"), (other, "--other")):
        if name not in known:
            raise UsageError(
                f"{flag} {name!r} has no measurements in these runs "
                f"(profiles: {', '.join(known) or 'none'})",
                "pick profiles that were measured (see `sevtui results show RUN`)",
            )
    grouped = _group(measurements)
    table = ComparisonTable(base, other)
    ratios: dict[str, list[float]] = defaultdict(list)
    category_of = {(b, m): group[0].category for (_t, b, m), group in grouped.items()}
    keys = sorted(category_of, key=lambda key: (_rank(category_of[key]), key[0], key[1]))
    for benchmark, metric in keys:
        base_group = grouped.get((base, benchmark, metric))
        other_group = grouped.get((other, benchmark, metric))
        if not base_group or not other_group:
            table.only_in_one.append(f"{benchmark}: {metric}")
            continue
        first = base_group[0]
        try:
            comparison = compare(
                [m.value for m in base_group],
                [m.value for m in other_group],
                "lower" if first.direction == "lower" else "higher",
            )
        except ValueError:
            table.only_in_one.append(f"{benchmark}: {metric} (zero base)")
            continue
        noisy = any(
            s.cv_pct is not None and s.cv_pct > noisy_cv_pct
            for s in (comparison.base, comparison.other)
        )
        table.rows.append(
            Row(benchmark, first.category, metric, first.unit, first.direction, comparison, noisy)
        )
        ratios[first.category].append(comparison.ratio)
    for category in CATEGORY_ORDER:
        if ratios.get(category):
            table.categories[category] = geometric_mean_overhead(ratios[category])
    every = [r for values in ratios.values() for r in values]
    table.overall = geometric_mean_overhead(every) if every else None
    return table


def _rank(category: str) -> int:
    return CATEGORY_ORDER.index(category) if category in CATEGORY_ORDER else len(CATEGORY_ORDER)
