"""A report's content gathered from the database: runs, system table, probes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sevtui.bench.results import ComparisonSet
from sevtui.bench.runreport import Comparer, metric_values
from sevtui.probe.exposure import EXPOSED, HIDDEN, INCONCLUSIVE
from sevtui.report import document
from sevtui.report.system import system_table
from sevtui.store.db import Store

if TYPE_CHECKING:
    from sevtui.report.figures import PlotRequest


def assemble(
    store: Store, run_ids: list[int], base: str, others: list[str], comparisons: ComparisonSet
) -> document.Report:
    """The report of these runs: BASE against each of OTHERS, with their probe verdicts."""
    runs = [store.run(run_id) for run_id in run_ids]
    labels = ", ".join(dict.fromkeys(run.label for run in runs))
    return document.Report(
        f"sevtui report: {labels}: {', '.join(others)} relative to {base}",
        runs,
        system_table(runs, [base, *others]),
        document.methodology(runs, comparisons),
        comparisons,
        probe_lines(store, run_ids, [base, *others]),
    )


def probe_lines(store: Store, run_ids: list[int], profiles: list[str]) -> list[document.ProbeLine]:
    """The newest probe of each profile, and whether it looked at a QEMU of these runs."""
    pids = {(r.target, r.qemu_pid) for i in run_ids for r in store.results(i) if r.qemu_pid}
    lines = []
    for profile in profiles:
        row = store.last_probe(profile)
        if row is None:
            continue
        verdict = (
            EXPOSED if row.found else f"{INCONCLUSIVE}: {row.reason}" if row.reason else HIDDEN
        )
        lines.append(
            document.ProbeLine(
                profile,
                verdict,
                row.method,
                row.hits,
                row.bytes_scanned,
                row.created,
                (profile, row.qemu_pid) in pids,
            )
        )
    return lines


def figure(
    comparer: Comparer, run_ids: list[int], base: str, others: list[str], request: PlotRequest
) -> Path:
    """Draw the figure REQUEST asks for from these runs; the path it was written to."""
    from sevtui.report import figures

    request.check(others)
    if request.kind == "along":
        points = comparer.along(run_ids, base, others[0], request.along)
        return figures.draw_along(points, request.along, request.path, request.width_in)
    if request.kind == "repetitions" and request.metric is not None:
        benchmark, metric = request.metric
        measured, unit = metric_values(comparer.store, run_ids, benchmark, metric)
        values = {p: measured[p] for p in (base, *others) if p in measured}
        what = (benchmark, metric, unit)
        return figures.draw_repetitions(values, what, request.path, request.width_in)
    if request.kind == "by-host":
        per_host = comparer.by_host(run_ids, base, others)
        series = [figures.BarSeries(host, set_.tables[0]) for host, set_ in per_host.items()]
    else:
        tables = comparer.comparisons(run_ids, base, others).tables
        series = [figures.BarSeries(table.other, table) for table in tables]
    return figures.draw_overhead(series, request.path, request.width_in)
