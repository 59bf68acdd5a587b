"""What the CLI prints: text renderings of core results (the CLI's handlers stay short)."""

from __future__ import annotations

import errno
import json
import os
import shlex
import stat
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sevtui.base.errors import SevtuiError, UsageError
from sevtui.base.sizes import format_duration, format_size

if TYPE_CHECKING:
    from sevtui.attest.service import Attestation
    from sevtui.attest.tdquote import TdQuoteResult
    from sevtui.base.kinds import VmKind
    from sevtui.bench.along import AlongPoint
    from sevtui.bench.events import Event
    from sevtui.bench.results import BenchmarkOverhead, ComparisonSet, ComparisonTable, MeanFigure
    from sevtui.bench.runner import RunOutcome
    from sevtui.bench.runreport import RunReport
    from sevtui.host.caps import CapabilityReport
    from sevtui.host.check import Check
    from sevtui.vm.details import ArgvPlan
    from sevtui.vm.inventory import VmRow


def progress(message: str) -> None:
    """A progress line on stderr, so stdout stays clean for results."""
    print(message, file=sys.stderr, flush=True)


_MARKS = {"pass": "ok  ", "fail": "FAIL", "warn": "warn", "skip": "skip"}


def tree_order(report: CapabilityReport) -> list[Check]:
    """The checks with each one's children right below it, as the app's tree shows them."""
    children: dict[str | None, list[Check]] = {}
    for check in report.checks:
        children.setdefault(check.parent, []).append(check)
    ordered: list[Check] = []

    def visit(parent: str | None) -> None:
        for check in children.get(parent, []):
            ordered.append(check)
            visit(check.id)

    visit(None)
    return ordered


def print_caps(report: CapabilityReport, vms: dict[str, VmKind]) -> None:
    where = "replayed machine" if report.replay else "this machine"
    print(f"{where}: {report.model} ({report.vendor}), role: {report.role}")
    print(f"verdict: {report.verdict}\n")
    for check in tree_order(report):
        indent = "  " * report.depth(check)
        print(f"{indent}[{_MARKS[check.status]}] {check.title}: {check.evidence}")
        if check.hint:
            print(f"{indent}       fix: {check.hint}")
    if report.leaf is not None:
        leaf = report.leaf
        print(
            f"\nCPUID 0x8000001F: C-bit {leaf.cbitpos}, phys addr reduction "
            f"{leaf.phys_addr_reduction}, {leaf.vmpl_count} VMPLs, "
            f"{leaf.max_encrypted_guests} encrypted guests, min SEV ASID {leaf.min_sev_asid}"
        )
    accel = "KVM" if report.accel.usable else "TCG (software emulation)"
    print(f"\naccel: {accel}: {report.accel.reason}")
    print("\nVM kinds:")
    for kind, verdict in report.profiles.items():
        mark = "yes" if verdict.launchable else "no "
        print(f"  {kind:<8} {mark}  {verdict.reason}")
    if vms:
        print("\nconfigured VMs:")
        width = max(len(name) for name in vms)
        for name, kind in vms.items():
            verdict = report.profiles[kind]
            state = "launchable" if verdict.launchable else "cannot launch"
            print(f"  {name:<{width}}  {kind:<8} {state}: {verdict.reason}")


def print_argv_explained(planned: ArgvPlan) -> None:
    """`vm argv --explain`: one option per line, then where the firmware and policy came from."""
    argv = planned.argv
    print(argv[0])
    index = 1
    while index < len(argv):
        takes_value = index + 1 < len(argv) and not argv[index + 1].startswith("-")
        print(f"  {shlex.join(argv[index : index + 1 + takes_value])}")
        index += 1 + takes_value
    print(f"# accel: {planned.accel_reason}")
    firmware = planned.firmware
    if firmware.get("problem"):
        print(f"# firmware: none: {firmware['problem']}")
    elif firmware.get("file"):
        source = firmware.get("descriptor") or "vm.NAME.firmware in the config"
        print(f"# firmware: {firmware['file']} ({firmware['device']}; from {source})")
    else:
        print("# firmware: none needed (direct kernel boot with QEMU's own BIOS)")
    if planned.policy:
        print(f"# policy {planned.policy}: {', '.join(planned.policy_flags)}")


def print_td_quote(result: TdQuoteResult, source: str) -> None:
    """`attest verify QUOTE`: the verdict, the TCB status, the measurements, every reason."""
    print(f"TD quote {source} (version {result.version}): {result.status.upper()}")
    print(f"  as of {result.at}: TCB status {result.tcb_status or '-'}")
    if result.advisories:
        print(f"  advisories {', '.join(result.advisories)}")
    for name in ("mrtd", "rtmr0", "rtmr1", "rtmr2", "rtmr3", "report_data"):
        if name in result.fields:
            print(f"  {name:<12} {result.fields[name]}")
    if result.nonce_matches is not None:
        print(f"  nonce        {'matches' if result.nonce_matches else 'DIFFERS'}")
    for reason in result.reasons:
        print(f"  - {reason}")


def print_attestation(result: Attestation, source: str) -> None:
    """`attest`: the verdict, the report's fields that matter, and every reason."""
    print(f"attestation of {source}: {result.status.upper()}")
    if result.chain or result.vcek_source:
        print(f"  chain {result.chain or '-'}, VCEK from {result.vcek_source or '-'}")
    if result.interface:
        print(f"  fetched through {result.interface}")
    report = result.report
    if report is not None:
        data = report.to_json()
        print(
            f"  version {report.version}, VMPL {report.vmpl}, policy {data['policy']} "
            f"({', '.join(data['policy_flags'])})"
        )
        print(f"  measurement  {data['measurement']}")
        print(f"  host_data    {data['host_data']}")
        print(f"  report_data  {data['report_data']}")
        print(f"  chip_id      {data['chip_id']}")
        tcb = ", ".join(f"{k} {v}" for k, v in data["reported_tcb"].items())
        print(f"  reported TCB {tcb}")
    if result.expected is not None and result.expected.measurement:
        matches = "matches" if result.measurement_matches else "DIFFERS"
        print(f"  expected     {result.expected.measurement} ({matches})")
    for reason in result.reasons:
        print(f"  - {reason}")


def print_toml(data: dict[str, Any], prefix: str = "") -> None:
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    if scalars and prefix:
        print(f"\n[{prefix}]")
    for key, value in scalars.items():
        if value is not None:
            print(f"{key} = {json.dumps(value, allow_nan=False)}")
    for key, value in tables.items():
        print_toml(value, f"{prefix}.{key}" if prefix else key)


class ProgressPrinter:
    """Renders runner events as lines with a progress count and an ETA."""

    def __init__(self) -> None:
        self.planned = 0
        self.finished = 0
        self.started = time.monotonic()
        self.left: float | None = None

    def __call__(self, event: Event) -> None:
        from sevtui.bench import events

        if isinstance(event, events.RunStarted):
            self.planned = event.planned
            self.started = time.monotonic()
            progress(
                f"run {event.run_id} {event.label!r}: {len(event.benchmarks)} benchmarks on "
                f"{', '.join(event.targets)}, {event.planned} repetitions to measure"
            )
        elif isinstance(event, events.BenchmarkStarted):
            self.planned = event.planned or self.planned
            self.left = event.left_s
            what = "warm-up" if event.warmup else f"repetition {event.repetition}"
            progress(f"{self._bar()} {event.target}: {event.benchmark} {what}")
        elif isinstance(event, events.RepetitionDone):
            self.planned = event.planned or self.planned
            self.left = event.left_s
            self.finished += 1
            shown = ", ".join(f"{k} {v:.4g}" for k, v in list(event.values.items())[:3])
            progress(f"{self._bar()} {event.target}: {event.benchmark} -> {shown}")
        elif isinstance(event, events.BenchmarkUnavailable):
            progress(f"{event.target}: {event.benchmark} unavailable ({event.reason})")
        elif isinstance(event, events.BenchmarkError):
            # A failed repetition counts as done; a benchmark or target closed out before
            # it ran (repetition 0) was taken off the plan instead.
            self.finished += event.repetition > 0
            progress(f"{event.target}: {event.benchmark} {event.status}: {event.message}")
        elif isinstance(event, events.RunFinished):
            why = f": {event.reason}" if event.reason else ""
            progress(
                f"run {event.run_id} {event.status} after {event.seconds:.0f} s, "
                f"{event.measured} repetitions stored{why}"
            )

    def _bar(self) -> str:
        from sevtui.bench.events import seconds_left

        total = max(self.planned, self.finished, 1)
        left = self.left
        if left is None:
            left = seconds_left(time.monotonic() - self.started, self.finished, total)
        eta = "" if left is None else f" ETA {format_duration(left)}"
        return f"[{self.finished}/{total}{eta}]"


class EventLog:
    """Progress for tools: each event appended to a file as one JSON line, then passed on.

    The file is opened before the run starts (a regular file, or a new one in an existing
    folder; never through a symbolic link), so a wrong path stops nothing that ran; a
    write that fails later fails the run with the reason."""

    def __init__(self, path: Path, then: Callable[[Event], None]) -> None:
        self.path = path
        self.then = then
        self.fd = _open_for_append(path)

    def __call__(self, event: Event) -> None:
        record = {"event": type(event).__name__, **asdict(event)}
        line = json.dumps(record, default=str, allow_nan=False) + "\n"
        try:
            os.write(self.fd, line.encode())
        except OSError as exc:
            raise SevtuiError(
                f"cannot write the event file {self.path}: {exc.strerror or exc}",
                "the run stops here, with what it measured; free the disk or pick another "
                "--events file, then resume it",
            ) from None
        self.then(event)


def _open_for_append(path: Path) -> int:
    """A descriptor appending to PATH: a regular file, or a new one in an existing folder."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    why = ""
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        why = {
            errno.ELOOP: "it is a symbolic link",
            errno.EISDIR: "it is a folder",
            errno.ENOENT: f"the folder {path.parent} does not exist",
            errno.ENXIO: "it is not a regular file",
        }.get(exc.errno or 0, exc.strerror or str(exc))
    else:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            return fd
        os.close(fd)
        why = "it is not a regular file"
    raise UsageError(
        f"--events {path}: {why}", "name a regular file, or a new file in an existing folder"
    )


def print_fleet_rows(rows: list[dict[str, str]], columns: tuple[str, ...]) -> None:
    """A plain table of per-host rows, long cells cut at 60 characters."""
    cells = [[row.get(column, "")[:60] for column in columns] for row in rows]
    widths = [
        max([len(column), *(len(line[i]) for line in cells)]) for i, column in enumerate(columns)
    ]
    print(
        "  ".join(
            column.upper().ljust(width) for column, width in zip(columns, widths, strict=True)
        )
    )
    for line in cells:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )


def print_outcome(outcome: RunOutcome) -> int:
    """One closing line per run; the exit status says done (0), failed (1), interrupted (130)."""
    run_id = outcome.run_id
    if outcome.status == "done":
        print(f"run {run_id} done: sevtui results show {run_id}")
    elif outcome.status == "interrupted":
        print(f"run {run_id} interrupted ({outcome.reason}); {outcome.measured} repetitions kept")
        print(f"  continue it with: sevtui bench resume {run_id}")
    else:
        print(f"run {run_id} failed: {outcome.reason}")
        print(
            f"  what was measured is kept: sevtui results show {run_id}; "
            f"after fixing it: sevtui bench resume {run_id}"
        )
    return outcome.exit_code


def print_comparisons(comparisons: ComparisonSet) -> None:
    """Metric rows with one column group per other profile, then the benchmark means."""
    from sevtui.bench.results import LEGEND, format_ci, format_pct, format_value

    tables = comparisons.tables
    others = ", ".join(t.other for t in tables)
    print(f"overhead of {others} relative to {comparisons.base} (positive: slower than base)")
    if tables[0].run_mode == "concurrent":
        print("measured concurrently: every repetition ran on all targets at the same time")
    modes = {name: mode for table in tables for name, mode in table.modes.items() if mode}
    for name, mode in modes.items():
        mark = "  UNCONFIRMED" if mode["unconfirmed"] else ""
        attested = f", attested: {mode['attested']}" if mode.get("attested") else ""
        print(
            f"mode {name}: configured {mode['configured_mode']}, guest confirmed "
            f"{mode['confirmed_mode']}{attested}{mark}"
        )
    for table in tables:
        for warning in table.warnings:
            print(f"warning ({table.other}): {warning}")
    rows = {(r.category, r.benchmark, r.metric): r for r in tables[0].rows}
    for table in tables[1:]:
        for row in table.rows:
            rows.setdefault((row.category, row.benchmark, row.metric), row)
    by_other = [{(r.category, r.benchmark, r.metric): r for r in t.rows} for t in tables]
    width = max([11, *(len(table.other) for table in tables)])
    header = f"  {'benchmark':<22} {'metric':<34} {'base':>11}"
    for table in tables:
        header += f" | {table.other:>{width}} {'overhead':>9} {'95% CI':<17}"
    category = ""
    for key, first in rows.items():
        if key[0] != category:
            category = key[0]
            print(f"\n[{category}]\n{header}")
        line = (
            f"{'H' if first.headline else ' '} {first.benchmark[:22]:<22} {first.metric[:34]:<34} "
            f"{format_value(first.comparison.base.mean):>11}"
        )
        for rows_of in by_other:
            cell = rows_of.get(key)
            if cell is None:
                line += f" | {'-':>{width}} {'':>9} {'':<17}"
                continue
            c = cell.comparison
            marks = ("*" if c.significant else "") + ("~" if cell.noisy else "")
            marks += "!" * len(cell.flags)
            line += (
                f" | {format_value(c.other.mean):>{width}} {format_pct(c.overhead_pct):>8}% "
                f"{format_ci(c.overhead_ci95):<17} {marks:<3}"
            )
        print(line + f" {first.unit}")
    for table in tables:
        print_means(table)
    print(f"\n{LEGEND}")


def print_along(points: list[AlongPoint], parameter: str) -> None:
    """`compare --along`: overhead per benchmark (rows) at each value (columns)."""
    from sevtui.bench.results import format_ci, format_pct

    groups: dict[str, list[AlongPoint]] = {}
    for point in points:
        fixed = ", ".join(f"{k}={v}" for k, v in point.fixed.items()) or "-"
        groups.setdefault(fixed, []).append(point)
    for fixed, group in groups.items():
        first = group[0].table
        print(f"\n{first.other} vs {first.base} along {parameter} (held: {fixed})")
        header = f"  {'benchmark':<24}" + "".join(
            f" | {parameter}={p.value:<8} {'95% CI':<14}" for p in group
        )
        print(header)
        names = list(dict.fromkeys(b.benchmark for p in group for b in p.table.benchmarks))
        for name in names:
            line = f"  {name[:24]:<24}"
            for point in group:
                found = {b.benchmark: b for b in point.table.benchmarks}.get(name)
                cell = (
                    f"{format_pct(found.overhead_pct):>8}% {format_ci(found.overhead_ci95):<14}"
                    if found
                    else f"{'-':>9} {'':<14}"
                )
                line += f" | {cell:<{len(parameter) + 24}}"
            print(line)
        overall = "".join(
            f" | {format_pct(p.table.overall.overhead_pct if p.table.overall else None):>8}% "
            f"{'':<{len(parameter) + 14}}"
            for p in group
        )
        print(f"  {'overall':<24}{overall}")


def print_means(table: ComparisonTable) -> None:
    """Per benchmark (with the unit of replication and the share of variance between
    launches), then the category and overall means with their intervals."""
    from sevtui.bench.results import format_ci, format_pct

    mark = " (UNCONFIRMED mode)" if table.unconfirmed(table.other) else ""
    print(
        f"\n{table.other}{mark} vs {table.base}, per benchmark "
        "(geometric mean of headline metrics per repetition):"
    )
    for bench in table.benchmarks:
        why = f"  ({bench.reason})" if bench.reason else ""
        flags = f"  flagged {', '.join(bench.flags)}" if bench.flags else ""
        print(
            f"  {bench.category:<7} {bench.benchmark:<24} {format_pct(bench.overhead_pct):>8} % "
            f"{format_ci(bench.overhead_ci95):<18}{_units(bench)}{flags}{why}"
        )
    for name, mean in table.categories.items():
        print(f"  {name:<8} geometric mean over benchmarks {mean.text()}")
        _excluded(mean)
    if table.overall is not None:
        print(f"  overall  geometric mean over benchmarks {table.overall.text()}")
    if table.not_compared:
        print(f"  not compared: {len(table.not_compared)} metrics, e.g. {table.not_compared[0]}")


def _units(bench: BenchmarkOverhead) -> str:
    """`n=3/3 launches, between launches 12 %/40 %`, or `n=1/1 repetitions`."""
    n_base, n_other = bench.units
    plural = "launches" if bench.unit == "launch" else "repetitions"
    text = f"n={n_base}/{n_other} {plural}"
    shares = list(bench.launch_share.values())
    if bench.unit == "launch" and any(share is not None for share in shares):
        shown = "/".join("-" if s is None else f"{s * 100:.0f} %" for s in shares)
        text += f", between launches {shown}"
    elif bench.unit == "repetition":
        text += ", variance between launches not measured"
    return text


def _excluded(mean: MeanFigure) -> None:
    if mean.excluded and (mean.overhead_ci95 is not None or mean.overhead_pct is None):
        left = "; ".join(f"{name}: {why}" for name, why in mean.excluded[:3])
        more = f" and {len(mean.excluded) - 3} more" if len(mean.excluded) > 3 else ""
        print(f"           left out: {left}{more}")


def print_vm_list(rows: list[VmRow]) -> None:
    """`vm list`: one aligned line per VM, then how stopped ones ended."""
    header = ("NAME", "KIND", "STATE", "PID", "RSS", "CPU%", "UPTIME", "VCPU", "MEM", "ACCEL")
    table = [header]
    for row in rows:
        st, smp = row.status, row.sample
        table.append(
            (
                f"{st.name} (variant of {st.variant_of})"
                if st.variant_of
                else f"{st.name} (external)"
                if st.external
                else st.name,
                st.kind,
                st.state,
                str(st.pid or "-"),
                f"{smp.rss_bytes / 2**20:.0f}M" if smp else "-",
                f"{smp.cpu_percent:.1f}" if smp else "-",
                format_duration(smp.uptime_s) if smp else "-",
                str(st.vcpus or "-"),
                format_size(st.memory) if st.memory else "-",
                st.accel or "-",
            )
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
    for row in rows:
        if row.status.detail and row.status.state in ("crashed", "shutoff"):
            print(f"{row.status.name}: {row.status.detail}")
        if row.status.stale:
            print(f"{row.status.name}: {row.status.stale}")


def print_runs(report: RunReport) -> None:
    """`results show`: each run's status (and why) and design, then statistics per target
    and metric, with each launch's mean when there were several."""
    from sevtui.bench.facts import mode_fact

    stats, units, launches = report.summaries, report.units, report.launch_means
    for run in report.runs:
        print(f"run {run.id} {run.label!r}: {run.status}, targets {', '.join(run.targets)}")
        if run.reason:
            print(f"  reason: {run.reason}")
        design = run.provenance.get("design")
        if isinstance(design, dict):
            print(f"  design: {describe_design(design)}")
        for target, info in run.target_info.items():
            variant = info.get("variant")
            if isinstance(variant, dict):
                params = ", ".join(f"{k}={v}" for k, v in variant.items() if k != "base")
                print(f"  {target}: variant of {variant.get('base')}: {params}")
            fact = mode_fact(info)
            if fact is not None:
                mark = "  UNCONFIRMED" if fact.unconfirmed else ""
                print(
                    f"  {target}: configured {fact.configured}, guest confirmed "
                    f"{fact.confirmed}{mark} ({fact.reason})"
                )
            attestation = info.get("attestation")
            if isinstance(attestation, dict):
                reasons = attestation.get("reasons") or []
                why = f": {reasons[0]}" if reasons else ""
                print(f"  {target}: attested: {attestation.get('status')}{why}")
    for (target, bench, metric), summary in stats.items():
        ci = f" ±{(summary.ci95[1] - summary.mean):.4g}" if summary.ci95 else ""
        cv = f" cv {summary.cv_pct:.1f}%" if summary.cv_pct is not None else ""
        print(
            f"  {target:<10} {bench:<22} {metric:<38} n={summary.n:<3} "
            f"{summary.mean:.6g}{ci} {units[(target, bench, metric)]}{cv}"
        )
        per_launch = launches.get((target, bench, metric), [])
        if len(per_launch) > 1:
            means = ", ".join(f"{m.launch}: {m.mean:.6g} (n={m.n})" for m in per_launch)
            print(f"  {'':<10} {'':<22} launch means {means}")
    for problem in report.problems:
        print(f"  {problem.target:<10} {problem.benchmark:<22} {problem.status}: {problem.message}")


def print_run_details(report: RunReport) -> None:
    """`results show --details`: where each run ran, each target, each repetition."""
    print("\n".join(report.detail_lines()))


def describe_design(design: dict[str, Any]) -> str:
    """`2 launches x 3 repetitions, random order (seed 42), warm-up 1, fixed n`."""
    stopping = design.get("stopping") if isinstance(design.get("stopping"), dict) else {}
    stop = (
        f"adaptive: pilot {stopping.get('pilot')}, precision {stopping.get('precision_pct')} %, "
        f"cap {stopping.get('cap')}"
        if stopping and stopping.get("mode") == "precision"
        else "fixed n"
    )
    order = design.get("order", "fixed")
    seed = f" (seed {design.get('seed')})" if order == "random" else ""
    return (
        f"{design.get('launches', 1)} launches x {design.get('repetitions')} repetitions, "
        f"{order} order{seed}, warm-up {design.get('warmup')}, {stop}"
    )


def print_run_list(runs: list[Any]) -> None:
    """`results list`: id, label, status, start, values and targets per run."""
    if not runs:
        print("no runs yet: sevtui bench run --vm demo --suite quick, or sevtui import")
        return
    print(f"{'ID':>4}  {'LABEL':<20} {'STATUS':<12} {'STARTED':<16} {'VALUES':>7}  TARGETS")
    for run in runs:
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.started))
        print(
            f"{run.id:>4}  {run.label[:20]:<20} {run.status:<12} {started:<16} "
            f"{run.measurements:>7}  {', '.join(run.targets)}"
        )
