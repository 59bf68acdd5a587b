"""`results show`: the runs, statistics per target and metric, every repetition."""

from __future__ import annotations

import math
import shlex
from dataclasses import asdict, dataclass, field
from typing import Any

from sevtui.base.errors import UsageError
from sevtui.bench.along import AlongPoint, AlongQuery, compare_along
from sevtui.bench.facts import RunFacts, run_facts
from sevtui.bench.results import ComparisonSet, build_comparisons, profiles, summaries
from sevtui.bench.stats import Summary, prefetch_distributions
from sevtui.store.db import Store
from sevtui.store.rows import ResultRow, RunRow, Series


@dataclass(frozen=True)
class RunReport:
    """`results show`: the runs, statistics per target and metric, and what went wrong."""

    runs: list[RunRow]
    summaries: dict[tuple[str, str, str], Summary]
    units: dict[tuple[str, str, str], str]
    problems: list[ResultRow]
    repetitions: list[ResultRow] = field(default_factory=list)
    launch_means: dict[tuple[str, str, str], list[LaunchMean]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The `results show --json` document: each repetition carries its launch, its
        place in the round's order and its QEMU PID; each run its design (seed...)."""
        return {
            "runs": [run.to_json() for run in self.runs],
            "metrics": [
                {"target": t, "benchmark": b, "metric": m, "unit": self.units[(t, b, m)]}
                | summary.to_json()
                | {"launch_means": [asdict(x) for x in self.launch_means.get((t, b, m), [])]}
                for (t, b, m), summary in self.summaries.items()
            ],
            "repetitions": [row.to_json() for row in self.repetitions],
            "problems": [problem.to_json() for problem in self.problems],
        }

    def detail_lines(self) -> list[str]:
        """The details as text lines (both front ends show these)."""
        return detail_lines(self)


_HOST_FACTS = ("host", "cpu_model", "microcode", "host_kernel", "qemu")
_TARGET_FACTS = ("kind", "kernel", "guest_kernel", "accel", "clocksource", "work_fs", "firmware")


def detail_lines(report: RunReport) -> list[str]:
    """Where each run ran, each target, and every repetition with its launch, place in
    the order and QEMU PID: `results show --details` and the app's run details."""
    lines: list[str] = []
    for run in report.runs:
        lines.append(f"run {run.id} ({run.uuid}) details")
        lines += [
            f"  {key}: {run.provenance[key]}" for key in _HOST_FACTS if run.provenance.get(key)
        ]
        for target, info in run.target_info.items():
            facts = ", ".join(f"{k} {info[k]}" for k in _TARGET_FACTS if info.get(k))
            lines.append(f"  {target}: {facts}")
            if info.get("argv"):
                lines.append(f"    argv: {shlex.join(str(a) for a in info['argv'])}")
            word = info.get("guest_word")
            if isinstance(word, dict):
                mode, why = word.get("confirmed_mode"), word.get("confirmed_reason")
                lines.append(f"    guest's word: {mode} ({why})")
    lines.append("  target     benchmark              rep launch order qemu-pid status   seconds")
    for row in report.repetitions:
        lines.append(
            f"  {row.target[:10]:<10} {row.benchmark[:22]:<22} {row.repetition:>3} "
            f"{row.launch:>6} {'-' if row.position is None else row.position:>5} "
            f"{row.qemu_pid or '-':>8} {row.status:<8} "
            f"{'' if row.seconds is None else f'{row.seconds:.3f}'}"
            + ("  pilot" if row.pilot else "")
        )
    lines.append("raw output: sevtui results output RUN TARGET BENCHMARK REPETITION")
    return lines


@dataclass(frozen=True)
class LaunchMean:
    """One launch's mean of a metric on one target (run id, launch, repetitions, mean)."""

    run: int
    launch: int
    n: int
    mean: float


def launch_means(series: list[Series]) -> dict[tuple[str, str, str], list[LaunchMean]]:
    """Per (target, benchmark, metric): the mean of each launch, in order."""
    found: dict[tuple[str, str, str], list[LaunchMean]] = {}
    for s in series:
        groups: dict[tuple[int, int], list[float]] = {}
        for (run, rep), value in s.values.items():
            groups.setdefault((run, s.launches.get((run, rep), 1)), []).append(value)
        found[(s.target, s.benchmark, s.metric)] = [
            LaunchMean(run, launch, len(values), math.fsum(values) / len(values))
            for (run, launch), values in sorted(groups.items())
        ]
    return found


def one_mode(facts: RunFacts, run_ids: list[int]) -> RunFacts:
    """FACTS, unless the runs mixed concurrent and interleaved measurement."""
    if len(facts.run_modes) > 1:
        raise UsageError(
            f"runs {', '.join(map(str, run_ids))} mix concurrent and interleaved measurement; "
            "their numbers are not comparable",
            "compare the concurrent runs and the interleaved runs separately (by run id)",
        )
    return facts


def run_report(store: Store, run_ids: list[int]) -> RunReport:
    """The runs RUN_IDS with statistics, their problems and every repetition."""
    series = store.series(run_ids)
    results = [r for run_id in run_ids for r in store.results(run_id)]
    return RunReport(
        [store.run(run_id) for run_id in run_ids],
        summaries(series),
        {(s.target, s.benchmark, s.metric): s.unit for s in series},
        [r for r in results if r.status != "ok"],
        results,
        launch_means(series),
    )


@dataclass(frozen=True)
class Comparer:
    """Comparisons over stored runs with one CV threshold and one catalog's headlines;
    compare, the figures and the report all ask it."""

    store: Store
    cv_threshold_pct: float
    headlines: dict[str, str]

    def comparisons(self, run_ids: list[int], base: str, others: list[str]) -> ComparisonSet:
        """BASE compared with each of OTHERS over these runs."""
        prefetch_distributions()
        facts = one_mode(run_facts(self.store, run_ids), run_ids)
        series = self.store.series(run_ids)
        return build_comparisons(series, base, others, self.cv_threshold_pct, self.headlines, facts)

    def by_host(self, run_ids: list[int], base: str, others: list[str]) -> dict[str, ComparisonSet]:
        """BASE against those of OTHERS each host measured (runs merged from several
        hosts: an AMD host's sev-snp and an Intel host's tdx beside each other)."""
        found: dict[str, ComparisonSet] = {}
        for host, ids in sorted(runs_by_host(self.store, run_ids).items()):
            measured = set(profiles(self.store.series(ids)))
            here = [other for other in others if other in measured]
            if here:
                found[host] = self.comparisons(ids, base, here)
        compared = {table.other for result in found.values() for table in result.tables}
        if not found or set(others) - compared:
            missing = ", ".join(sorted(set(others) - compared)) or ", ".join(others)
            raise UsageError(
                f"--other {missing}: no host of these runs measured it",
                "pick profiles that were measured (see `sevtui results show RUN`)",
            )
        return found

    def along(self, run_ids: list[int], base: str, other: str, parameter: str) -> list[AlongPoint]:
        """A sweep's overhead of OTHER over BASE at each value of PARAMETER."""
        prefetch_distributions()
        facts = one_mode(run_facts(self.store, run_ids), run_ids)
        query = AlongQuery(base, other, parameter)
        series = self.store.series(run_ids)
        return compare_along(series, query, self.cv_threshold_pct, self.headlines, facts)


def runs_by_host(store: Store, run_ids: list[int]) -> dict[str, list[int]]:
    """These runs grouped by the host that measured them (provenance `host`)."""
    grouped: dict[str, list[int]] = {}
    for run_id in run_ids:
        host = str(store.run(run_id).provenance.get("host") or "unknown")
        grouped.setdefault(host, []).append(run_id)
    return grouped


def metric_values(
    store: Store, run_ids: list[int], benchmark: str, metric: str
) -> tuple[dict[str, list[float]], str]:
    """Every repetition's value of one metric per profile, and its unit (empty when it
    was not measured): the repetitions chart."""
    values: dict[str, list[float]] = {}
    unit = ""
    for series in store.series(run_ids):
        if series.benchmark == benchmark and series.metric == metric:
            values.setdefault(series.target, []).extend(series.values.values())
            unit = unit or series.unit
    return values, unit
