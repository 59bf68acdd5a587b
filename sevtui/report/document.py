"""A study's report: the system table, the method in words, the overhead tables with
their intervals, the figure, the memory-probe verdicts and every warning, rendered as
Markdown, self-contained HTML, CSV and a booktabs LaTeX table.

Nothing here is typed by hand: every number and fact comes from the runs, the
comparison and the probes the database holds.
"""

from __future__ import annotations

import csv
import html
import io
import re
import time
from dataclasses import dataclass
from typing import Any

from sevtui.bench.results import (
    LEGEND,
    METHOD,
    BenchmarkOverhead,
    ComparisonSet,
    ComparisonTable,
    MeanFigure,
    csv_cell,
    format_ci,
    format_pct,
)
from sevtui.report.system import SystemTable
from sevtui.store.rows import RunRow


@dataclass(frozen=True)
class ProbeLine:
    """The newest memory probe of one VM profile of the report."""

    vm: str
    verdict: str
    method: str
    hits: int
    bytes_scanned: int
    created: float
    of_these_runs: bool
    """The probe looked at a QEMU process that measured these runs."""


@dataclass(frozen=True)
class Report:
    """Everything the report shows, read from the database."""

    title: str
    runs: list[RunRow]
    system: SystemTable
    method: str
    comparisons: ComparisonSet
    probes: list[ProbeLine]


def _day(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(stamp))


def _design_words(design: dict[str, Any], suite: str | None) -> str:
    stopping = design.get("stopping") if isinstance(design.get("stopping"), dict) else {}
    if stopping and stopping.get("mode") == "precision":
        stop = (
            f"adaptive: a pilot of {stopping.get('pilot')}, then as many as a "
            f"{stopping.get('precision_pct')} % precision needed, at most {stopping.get('cap')}"
        )
    else:
        stop = "fixed before the run"
    order = design.get("order", "fixed")
    ordered = (
        f"in a random order per round drawn from seed {design.get('seed')}"
        if order == "random"
        else f"in a {order} order"
    )
    return (
        f"the {suite or 'imported'} suite in {design.get('launches', 1)} launch(es) of "
        f"{design.get('repetitions')} repetitions ({stop}), {design.get('warmup')} unrecorded "
        f"warm-up run(s) per benchmark, target and launch, targets {ordered}"
    )


def methodology(runs: list[RunRow], comparisons: ComparisonSet) -> str:
    """The method paragraph, from the runs' stored design and the comparison itself."""
    designs = []
    for run in runs:
        design = run.provenance.get("design")
        mode = run.provenance.get("mode")
        if isinstance(design, dict):
            shared = f"; targets ran {mode}" if mode else ""
            designs.append(f"run {run.id} measured {_design_words(design, run.suite)}{shared}")
        else:
            designs.append(f"run {run.id} ({run.status}) holds imported values: no design")
    units: dict[str, int] = {}
    excluded: list[str] = []
    for table in comparisons.tables:
        for bench in table.benchmarks:
            units[bench.unit] = units.get(bench.unit, 0) + 1
        if table.overall is not None:
            excluded += [f"{b} ({why}, vs {table.other})" for b, why in table.overall.excluded]
    over = ", ".join(
        f"{count} benchmark interval(s) over {_plural(unit)}" for unit, count in units.items()
    )
    left = f" Left out of the means: {'; '.join(excluded)}." if excluded else ""
    return (
        f"{'. '.join(d[0].upper() + d[1:] for d in designs)}. Method: {METHOD}. "
        f"Units of replication: {over or 'none'}.{left}"
    )


def _plural(unit: str) -> str:
    """launch -> launches, repetition -> repetitions."""
    return f"{unit}es" if unit.endswith("ch") else f"{unit}s"


def _mean_cell(mean: MeanFigure | None) -> str:
    if mean is None or mean.overhead_pct is None:
        return "n/a"
    ci = f" [{format_ci(mean.overhead_ci95)}]" if mean.overhead_ci95 else ""
    return f"{format_pct(mean.overhead_pct)} %{ci} (n={mean.n_benchmarks})"


def category_rows(comparisons: ComparisonSet) -> list[list[str]]:
    """category, then per other profile its mean with the CI; `overall` last."""
    names = list(dict.fromkeys(c for t in comparisons.tables for c in t.categories))
    rows = [
        [name] + [_mean_cell(t.categories.get(name)) for t in comparisons.tables] for name in names
    ]
    rows.append(["overall"] + [_mean_cell(t.overall) for t in comparisons.tables])
    return rows


def _benchmarks(comparisons: ComparisonSet) -> dict[str, str]:
    """Every benchmark of the comparisons (in their order) -> its category."""
    return {b.benchmark: b.category for t in comparisons.tables for b in t.benchmarks}


def _find(table: ComparisonTable, name: str) -> BenchmarkOverhead | None:
    return next((b for b in table.benchmarks if b.benchmark == name), None)


def benchmark_rows(comparisons: ComparisonSet) -> list[list[str]]:
    """benchmark, category, then per other profile overhead % [CI] (n) and its flags."""
    rows = []
    for name, category in _benchmarks(comparisons).items():
        cells = [name, category]
        for table in comparisons.tables:
            bench = _find(table, name)
            if bench is None:
                cells.append("not measured")
                continue
            ci = f" [{format_ci(bench.overhead_ci95)}]" if bench.overhead_ci95 else ""
            flags = f" ({', '.join(bench.flags)})" if bench.flags else ""
            n = f" n={bench.units[0]}/{bench.units[1]} {_plural(bench.unit)}"
            cells.append(f"{format_pct(bench.overhead_pct)} %{ci}{n}{flags}")
        rows.append(cells)
    return rows


def warnings(comparisons: ComparisonSet) -> list[str]:
    """Every warning of every comparison, and what was not compared, once each."""
    found = [w for t in comparisons.tables for w in t.warnings]
    for table in comparisons.tables:
        if table.not_compared:
            found.append(
                f"not compared ({table.other} vs {table.base}): {', '.join(table.not_compared)}"
            )
    return list(dict.fromkeys(found))


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(map(cell, header)) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in rows]
    return [*lines, ""]


def _probe_rows(report: Report) -> list[list[str]]:
    return [
        [
            p.vm,
            p.verdict,
            p.method,
            str(p.hits),
            f"{p.bytes_scanned:,}",
            _day(p.created),
            "yes" if p.of_these_runs else "no (another QEMU process)",
        ]
        for p in report.probes
    ]


PROBE_HEADER = ["VM", "verdict", "method", "hits", "bytes searched", "when", "QEMU of these runs"]


def markdown(report: Report, figure: str) -> str:
    """report.md: headings, GFM tables, the figure by relative path."""
    others = [t.other for t in report.comparisons.tables]
    base = report.comparisons.base
    lines = [f"# {report.title}", ""]
    lines += _md_table(
        ["run", "label", "status", "started", "uuid"],
        [[str(r.id), r.label, r.status, _day(r.started), r.uuid] for r in report.runs],
    )
    lines += ["## System", ""]
    lines += _md_table(["", "value"], [[k, v] for k, v in report.system.host])
    lines += _md_table(["", *report.system.profiles], [[k, *v] for k, v in report.system.guests])
    lines += ["## Method", "", report.method, "", f"_{LEGEND}_", ""]
    lines += [f"## Overhead relative to {base}, by category", ""]
    lines += _md_table(["category", *others], category_rows(report.comparisons))
    lines += ["## Overhead per benchmark", ""]
    lines += _md_table(["benchmark", "category", *others], benchmark_rows(report.comparisons))
    lines += [f"![Overhead relative to {base}]({figure})", ""]
    lines += ["## Memory probes", ""]
    if report.probes:
        lines += _md_table(PROBE_HEADER, _probe_rows(report))
    else:
        lines += ["No VM of these runs was probed.", ""]
    lines += ["## Warnings", ""]
    lines += [f"- {w}" for w in warnings(report.comparisons)] or ["None."]
    return "\n".join(lines).rstrip() + "\n"


_STYLE = (
    "body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .5em;"
    "text-align:left;vertical-align:top}th{background:#f3f3f3}figure svg{max-width:100%;"
    "height:auto}"
)


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def inline_svg(svg: str) -> str:
    """An SVG file's <svg> element, for inlining (no XML prolog, no doctype, no scripts)."""
    start = svg.find("<svg")
    body = svg[start:] if start >= 0 else ""
    return re.sub(r"<script\b.*?</script>", "", body, flags=re.S | re.I)


def to_html(report: Report, svg: str) -> str:
    """report.html: one file, the figure inline, no script and nothing fetched."""
    others = [t.other for t in report.comparisons.tables]
    base = report.comparisons.base
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(report.title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(report.title)}</h1>",
        _html_table(
            ["run", "label", "status", "started", "uuid"],
            [[str(r.id), r.label, r.status, _day(r.started), r.uuid] for r in report.runs],
        ),
        "<h2>System</h2>",
        _html_table(["", "value"], [[k, v] for k, v in report.system.host]),
        _html_table(["", *report.system.profiles], [[k, *v] for k, v in report.system.guests]),
        f"<h2>Method</h2><p>{html.escape(report.method)}</p><p><em>{html.escape(LEGEND)}</em></p>",
        f"<h2>Overhead relative to {html.escape(base)}, by category</h2>",
        _html_table(["category", *others], category_rows(report.comparisons)),
        "<h2>Overhead per benchmark</h2>",
        _html_table(["benchmark", "category", *others], benchmark_rows(report.comparisons)),
        f"<figure>{inline_svg(svg)}<figcaption>Overhead relative to {html.escape(base)}, "
        "95 % confidence intervals</figcaption></figure>",
        "<h2>Memory probes</h2>",
        _html_table(PROBE_HEADER, _probe_rows(report))
        if report.probes
        else "<p>No VM of these runs was probed.</p>",
        "<h2>Warnings</h2><ul>",
        *(f"<li>{html.escape(w)}</li>" for w in warnings(report.comparisons)),
        "</ul></body></html>",
    ]
    return "\n".join(parts) + "\n"


_TEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def tex_escape(text: str) -> str:
    """TEXT with LaTeX's special characters escaped."""
    return "".join(_TEX_SPECIAL.get(ch, ch) for ch in text)


def _tex_pct(value: float | None, ci: tuple[float, float] | None) -> str:
    if value is None:
        return "n/a"
    interval = f" [{ci[0]:+.1f}, {ci[1]:+.1f}]" if ci else ""
    return f"${value:+.1f}${interval}".replace("[", "{[}").replace("]", "{]}")


def overhead_tex(comparisons: ComparisonSet) -> str:
    """overhead.tex: a booktabs table (needs \\usepackage{booktabs}) of each benchmark's
    overhead % with its 95 % CI per other profile, category and overall means below."""
    tables = comparisons.tables
    lines = [
        "% sevtui: overhead % [95 % CI] relative to " + tex_escape(comparisons.base),
        r"\begin{tabular}{ll" + "r" * len(tables) + "}",
        r"\toprule",
        "Benchmark & Category & " + " & ".join(tex_escape(t.other) for t in tables) + r" \\",
        r"\midrule",
    ]
    for name, category in _benchmarks(comparisons).items():
        cells = []
        for table in tables:
            bench = _find(table, name)
            cells.append(_tex_pct(bench.overhead_pct, bench.overhead_ci95) if bench else "--")
        lines.append(f"{tex_escape(name)} & {tex_escape(category)} & " + " & ".join(cells) + r" \\")
    lines.append(r"\midrule")
    for category in dict.fromkeys(c for t in tables for c in t.categories):
        cells = [_tex_pct(*_figure(t.categories.get(category))) for t in tables]
        lines.append(
            f"\\multicolumn{{2}}{{l}}{{{tex_escape(category)} mean}} & "
            + " & ".join(cells)
            + r" \\"
        )
    cells = [_tex_pct(*_figure(t.overall)) for t in tables]
    lines += [
        r"\multicolumn{2}{l}{overall mean} & " + " & ".join(cells) + r" \\",
        r"\bottomrule",
        r"\end{tabular}",
    ]
    return "\n".join(lines) + "\n"


def _figure(mean: MeanFigure | None) -> tuple[float | None, tuple[float, float] | None]:
    return (mean.overhead_pct, mean.overhead_ci95) if mean else (None, None)


def csv_text(header: list[str], rows: list[list[Any]]) -> str:
    """CSV with text cells escaped against spreadsheet formulas."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([csv_cell(c) if isinstance(c, str) else c for c in row] for row in rows)
    return out.getvalue()


def benchmark_csv(comparisons: ComparisonSet) -> str:
    """tables/benchmarks.csv: one line per benchmark and other profile, numbers unrounded."""
    rows: list[list[Any]] = []
    for t in comparisons.tables:
        for b in t.benchmarks:
            low, high = b.overhead_ci95 or (None, None)
            rows.append(
                [
                    t.other,
                    b.benchmark,
                    b.category,
                    b.overhead_pct,
                    low,
                    high,
                    b.unit,
                    b.units[0],
                    b.units[1],
                    " ".join(b.flags),
                    b.reason,
                ]
            )
    header = [
        "other",
        "benchmark",
        "category",
        "overhead_pct",
        "ci_low",
        "ci_high",
        "unit_of_replication",
        "base_n",
        "other_n",
        "flags",
        "reason",
    ]
    return csv_text(header, rows)


def category_csv(comparisons: ComparisonSet) -> str:
    """tables/categories.csv: each category's and the overall geometric mean per other."""
    rows: list[list[Any]] = []
    for t in comparisons.tables:
        means = [*t.categories.items(), *([("overall", t.overall)] if t.overall else [])]
        for name, mean in means:
            low, high = mean.overhead_ci95 or (None, None)
            rows.append([t.other, name, mean.overhead_pct, low, high, mean.n_benchmarks])
    return csv_text(
        ["other", "category", "overhead_pct", "ci_low", "ci_high", "n_benchmarks"], rows
    )


def system_csv(system: SystemTable) -> str:
    """tables/system.csv: the host facts."""
    return csv_text(["fact", "value"], [[k, v] for k, v in system.host])


def guests_csv(system: SystemTable) -> str:
    """tables/profiles.csv: each profile's facts, one column per profile."""
    return csv_text(["fact", *system.profiles], [[k, *v] for k, v in system.guests])
