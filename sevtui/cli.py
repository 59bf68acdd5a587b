"""The `sevtui` command line: a thin layer over the core, one handler per command."""

from __future__ import annotations

import argparse
import gc
import json
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sevtui import __version__
from sevtui.errors import SevtuiError, UsageError
from sevtui.kinds import VM_KINDS, VmKind

if TYPE_CHECKING:
    from sevtui.bench.catalog import Catalog
    from sevtui.bench.events import Event
    from sevtui.bench.results import ComparisonSet, ComparisonTable
    from sevtui.bench.runner import RunOutcome
    from sevtui.config import Config, LoadedConfig
    from sevtui.host.caps import CapabilityReport
    from sevtui.store import Store

Handler = Callable[[argparse.Namespace, "Context"], int]


@dataclass
class Context:
    """What every command gets: the parsed global options and the config, loaded once."""

    config_path: Path | None
    db_path: Path | None
    _loaded: LoadedConfig | None = field(default=None, init=False)

    @property
    def loaded(self) -> LoadedConfig:
        """The validated config (loaded on first use)."""
        if self._loaded is None:
            from sevtui.config import load_config

            self._loaded = load_config(self.config_path)
            if self.db_path is not None:
                self._loaded.config.paths.database = self.db_path.resolve()
        return self._loaded

    @property
    def config(self) -> Config:
        """Shortcut for the validated Config."""
        return self.loaded.config


def emit_json(data: Any) -> None:
    """Print JSON for scripts: indented, keys in a stable order."""
    print(json.dumps(data, indent=2, default=str, allow_nan=False))


# --- caps -------------------------------------------------------------------------------

_MARKS = {"pass": "ok  ", "fail": "FAIL", "warn": "warn", "skip": "skip"}


def cmd_caps(args: argparse.Namespace, ctx: Context) -> int:
    """Report what this host can do for confidential VMs."""
    from sevtui.host.inspect import inspect_host

    sysroot = Path(args.sysroot) if args.sysroot else Path("/")
    if not sysroot.is_dir():
        raise UsageError(f"--sysroot {sysroot}: not a directory", "give a copied machine root")
    report = inspect_host(ctx.config, sysroot, Path(args.cpuid_file) if args.cpuid_file else None)
    vms = {name: vm.kind for name, vm in ctx.config.vm.items()}
    if args.json:
        data = report.to_json()
        data["vms"] = {
            name: {"kind": kind, **vars(report.profiles[kind])} for name, kind in vms.items()
        }
        emit_json(data)
    else:
        _print_caps(report, vms)
    if args.require and not report.profiles[args.require].launchable:
        return 1
    return 0


def _print_caps(report: CapabilityReport, vms: dict[str, VmKind]) -> None:
    where = "replayed machine" if report.replay else "this machine"
    print(f"{where}: {report.model} ({report.vendor}), role: {report.role}")
    print(f"verdict: {report.verdict}\n")
    for check in report.checks:
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


# --- config -----------------------------------------------------------------------------


def cmd_config_check(args: argparse.Namespace, ctx: Context) -> int:
    """Validate the config and print the effective values."""
    loaded = ctx.loaded
    source = str(loaded.source) if loaded.source else "built-in defaults"
    from sevtui.config import dump_config

    data = dump_config(loaded.config)
    if args.json:
        emit_json({"source": source, "config": data})
        return 0
    print(f"# config OK: {source}")
    _print_toml(data)
    return 0


def _print_toml(data: dict[str, Any], prefix: str = "") -> None:
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    if scalars and prefix:
        print(f"\n[{prefix}]")
    for key, value in scalars.items():
        if value is not None:
            print(f"{key} = {json.dumps(value)}")
    for key, value in tables.items():
        _print_toml(value, f"{prefix}.{key}" if prefix else key)


# --- vm ---------------------------------------------------------------------------------


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _host_report(ctx: Context) -> CapabilityReport:
    from sevtui.host.inspect import inspect_host

    return inspect_host(ctx.config)


def cmd_vm_argv(args: argparse.Namespace, ctx: Context) -> int:
    """Print the QEMU argv of a VM without starting it."""
    from sevtui.vm.lifecycle import plan
    from sevtui.vm.spec import build_argv

    resolved, why = plan(ctx.config, args.name, _host_report(ctx))
    for note in resolved.notes:
        _progress(f"note: {note}")
    argv = build_argv(resolved.spec)
    if args.json:
        emit_json({"argv": argv, "accel_reason": why})
    else:
        print(shlex.join(argv))
    return 0


def cmd_vm_start(args: argparse.Namespace, ctx: Context) -> int:
    """Start a configured VM detached from sevtui."""
    from sevtui.vm.lifecycle import start

    result = start(
        ctx.config,
        args.name,
        _host_report(ctx),
        force=args.force,
        wait_ready=not args.no_wait,
        progress=_progress,
    )
    for note in result.notes:
        _progress(f"note: {note}")
    ready = f", ready after {result.seconds_to_ready:.1f} s" if result.seconds_to_ready else ""
    print(f"{result.name}: running, PID {result.pid}, accel {result.accel}{ready}")
    return 0


def cmd_vm_stop(args: argparse.Namespace, ctx: Context) -> int:
    """Stop a running VM, escalating from ACPI powerdown to SIGKILL."""
    from sevtui.vm.lifecycle import stop

    result = stop(ctx.config, args.name, kill=args.kill, grace_s=args.grace, progress=_progress)
    print(f"{result.name}: stopped by {result.step} after {result.seconds:.1f} s")
    return 0


def cmd_vm_list(args: argparse.Namespace, ctx: Context) -> int:
    """List configured VMs and every other QEMU process on this host."""
    from sevtui.config import format_size
    from sevtui.vm.inventory import inventory

    rows = inventory(ctx.config)
    if args.json:
        emit_json([row.to_json() for row in rows])
        return 0
    header = ("NAME", "KIND", "STATE", "PID", "RSS", "CPU%", "UPTIME", "VCPU", "MEM", "ACCEL")
    table = [header]
    for row in rows:
        st, smp = row.status, row.sample
        name = f"{st.name} (external)" if st.external else st.name
        table.append(
            (
                name,
                st.kind,
                st.state,
                str(st.pid or "-"),
                f"{smp.rss_bytes / 2**20:.0f}M" if smp else "-",
                f"{smp.cpu_percent:.1f}" if smp else "-",
                _duration(smp.uptime_s) if smp else "-",
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
    return 0


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def cmd_vm_exec(args: argparse.Namespace, ctx: Context) -> int:
    """Run a command in the guest: over ssh for cloud guests, else the serial console."""
    from sevtui.vm import remote
    from sevtui.vm.lifecycle import status

    command = list(args.passthrough) or list(args.command)
    if not command:
        raise UsageError("no command given", f"sevtui vm exec {args.name} -- uname -r")
    current = status(ctx.config, args.name)
    if current.state != "running":
        raise UsageError(f"VM {args.name!r} is not running: {current.state}")
    output, exit_status = remote.runner(ctx.config, args.name)(shlex.join(command), args.timeout)
    sys.stdout.write(output)
    return exit_status


def cmd_vm_console(args: argparse.Namespace, ctx: Context) -> int:
    """Attach this terminal to the guest console (Ctrl-] detaches)."""
    from sevtui.vm import console
    from sevtui.vm.lifecycle import status
    from sevtui.vm.resolve import vm_paths

    current = status(ctx.config, args.name)
    if current.state != "running":
        raise UsageError(f"VM {args.name!r} is not running: {current.state}")
    console.attach(vm_paths(ctx.config, args.name))
    return 0


# --- image ------------------------------------------------------------------------------


def cmd_image_build(args: argparse.Namespace, ctx: Context) -> int:
    """Build (or reuse) the minimal guest image."""
    from sevtui.vm.images import build_minimal

    image, rebuilt = build_minimal(
        ctx.config.paths.images, ctx.config.image.kernel, force=args.force, progress=_progress
    )
    print(f"minimal image {'built' if rebuilt else 'up to date'}: {image.initrd.parent}")
    return 0


def cmd_image_prepare_cloud(args: argparse.Namespace, ctx: Context) -> int:
    """Make a VM's disk, ssh key and cloud-init seed from a cloud image."""
    from sevtui.vm.cloud import prepare_cloud

    made = prepare_cloud(ctx.config, args.vm, Path(args.base), args.grow)
    print(f"prepared {args.vm}: disk {made.disk}, cloud-init {made.seed_iso}, key {made.ssh_key}")
    print(f"add to [vm.{args.vm}] in config.toml:")
    print(f'  image = "{made.disk}"')
    print(f'  cloud_init = "{made.seed_iso}"')
    return 0


# --- bench ------------------------------------------------------------------------------


class _ProgressPrinter:
    """Renders runner events as lines with a progress count and an ETA."""

    def __init__(self) -> None:
        self.planned = 0
        self.finished = 0
        self.started = time.monotonic()

    def __call__(self, event: Event) -> None:
        from sevtui.bench import events

        if isinstance(event, events.RunStarted):
            self.planned = event.planned
            self.started = time.monotonic()
            _progress(
                f"run {event.run_id} {event.label!r}: {len(event.benchmarks)} benchmarks on "
                f"{', '.join(event.targets)}, {event.planned} repetitions to measure"
            )
        elif isinstance(event, events.BenchmarkStarted):
            self.planned = event.planned or self.planned
            what = "warm-up" if event.warmup else f"repetition {event.repetition}"
            _progress(f"{self._bar()} {event.target}: {event.benchmark} {what}")
        elif isinstance(event, events.RepetitionDone):
            self.planned = event.planned or self.planned
            self.finished += 1
            shown = ", ".join(f"{k} {v:.4g}" for k, v in list(event.values.items())[:3])
            _progress(f"{self._bar()} {event.target}: {event.benchmark} -> {shown}")
        elif isinstance(event, events.BenchmarkUnavailable):
            _progress(f"{event.target}: {event.benchmark} unavailable ({event.reason})")
        elif isinstance(event, events.BenchmarkError):
            self.finished += 1
            _progress(f"{event.target}: {event.benchmark} {event.status}: {event.message}")
        elif isinstance(event, events.RunFinished):
            why = f": {event.reason}" if event.reason else ""
            _progress(
                f"run {event.run_id} {event.status} after {event.seconds:.0f} s, "
                f"{event.measured} repetitions stored{why}"
            )

    def _bar(self) -> str:
        from sevtui.bench.events import seconds_left

        total = max(self.planned, self.finished, 1)
        left = seconds_left(time.monotonic() - self.started, self.finished, total)
        eta = "" if left is None else f" ETA {left:.0f}s"
        return f"[{self.finished}/{total}{eta}]"


def cmd_bench_run(args: argparse.Namespace, ctx: Context) -> int:
    """Run a suite on VMs (and/or host), interleaved, storing every value as it is parsed."""
    from sevtui.bench.events import RunPlan
    from sevtui.bench.runner import run_suite

    config = ctx.config
    plan = RunPlan(
        targets=list(dict.fromkeys(args.vm)),
        suite=args.suite,
        repetitions=args.repetitions or config.bench.repetitions,
        label=args.label or f"{args.suite}-{time.strftime('%Y%m%d-%H%M%S')}",
        warmup=config.bench.warmup if args.warmup is None else args.warmup,
        max_repetitions=max(config.bench.max_repetitions, args.repetitions or 0),
        cv_threshold_pct=config.bench.cv_threshold_pct,
        timeout_s=config.bench.timeout_s,
    )
    outcome = run_suite(
        config, _store(ctx), _catalog(ctx), plan, _host_report(ctx), _ProgressPrinter()
    )
    return _report_outcome(outcome)


def _report_outcome(outcome: RunOutcome) -> int:
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


def cmd_bench_resume(args: argparse.Namespace, ctx: Context) -> int:
    """Run only what an interrupted run is missing."""
    from sevtui.bench.runner import plan_from_run, run_suite

    store = _store(ctx)
    store.mark_orphans()
    run_ids = store.resolve(args.run)
    if len(run_ids) != 1:
        raise UsageError(f"{args.run!r} names {len(run_ids)} runs", "resume one run id")
    plan = plan_from_run(store, run_ids[0], ctx.config)
    outcome = run_suite(
        ctx.config, store, _catalog(ctx), plan, _host_report(ctx), _ProgressPrinter()
    )
    return _report_outcome(outcome)


def cmd_bench_list(args: argparse.Namespace, ctx: Context) -> int:
    """List benchmarks and suites."""
    catalog = _catalog(ctx)
    if args.json:
        emit_json(
            {
                "benchmarks": [vars(b) for b in catalog.benchmarks.values()],
                "suites": {name: list(ids) for name, ids in catalog.suites.items()},
            }
        )
        return 0
    for bench in catalog.benchmarks.values():
        print(f"{bench.id:<22} {bench.category:<7} {bench.parser:<13} {bench.title}")
    for name, ids in catalog.suites.items():
        print(f"suite {name}: {', '.join(ids)}")
    return 0


# --- probe ------------------------------------------------------------------------------


def cmd_probe(args: argparse.Namespace, ctx: Context) -> int:
    """Plant a canary in a running guest and search QEMU's memory for it from the host."""
    from sevtui.probe import probe_vm

    result, kind = probe_vm(ctx.config, args.name, args.method, args.secret, args.all)
    if args.json:
        emit_json({"vm": args.name, "kind": kind, **result.to_json()})
        return 0
    print(f"{args.name} ({kind}), method {result.method}: {result.verdict}")
    print(
        f"  hits {result.hits}, scanned {result.bytes_scanned / 2**20:.0f} MiB in "
        f"{result.seconds:.3f} s ({result.throughput_gbps:.2f} GB/s)"
    )
    for location in result.locations[:5]:
        print(f"  at {location['mapping']} + {location['offset']:#x}")
    return 0


# --- results ----------------------------------------------------------------------------


def _store(ctx: Context) -> Store:
    from sevtui.store import Store

    return Store(ctx.config.paths.db)


def _catalog(ctx: Context) -> Catalog:
    from sevtui.bench.catalog import catalog_from_config

    return catalog_from_config(ctx.config)


def cmd_import(args: argparse.Namespace, ctx: Context) -> int:
    """Import mbw, tinymembench, redis CSV, tinyben or long CSV files as runs."""
    from sevtui.bench.importer import CsvColumns, import_files

    columns = None
    if args.format == "csv":
        if not (args.benchmark_col and args.value_col):
            raise UsageError("--format csv needs --benchmark-col and --value-col")
        columns = CsvColumns(
            args.benchmark_col,
            args.value_col,
            args.metric_col,
            args.profile_col,
            args.unit or "",
            args.direction,
        )
    store = _store(ctx)
    runs = import_files(
        store,
        [Path(f) for f in args.files],
        args.label,
        args.profile,
        args.format,
        _catalog(ctx),
        columns,
    )
    for profile, run_id in runs.items():
        count = len(store.samples([run_id]))
        print(f"imported run {run_id}: label {args.label!r}, profile {profile!r}, {count} values")
    return 0


def cmd_results_list(args: argparse.Namespace, ctx: Context) -> int:
    """List stored runs."""
    runs = _store(ctx).runs()
    if args.json:
        emit_json([run.to_json() for run in runs])
        return 0
    if not runs:
        print("no runs yet: sevtui bench run --vm demo --suite quick, or sevtui import")
        return 0
    print(f"{'ID':>4}  {'LABEL':<20} {'STATUS':<12} {'STARTED':<16} {'VALUES':>7}  TARGETS")
    for run in runs:
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.started))
        print(
            f"{run.id:>4}  {run.label[:20]:<20} {run.status:<12} {started:<16} "
            f"{run.measurements:>7}  {', '.join(run.targets)}"
        )
    return 0


def cmd_results_show(args: argparse.Namespace, ctx: Context) -> int:
    """Show one run (or all runs with a label): summaries per target and metric."""
    from sevtui.bench.results import summaries

    store = _store(ctx)
    run_ids = store.resolve(args.run)
    measured = store.series(run_ids)
    stats = summaries(measured)
    units = {(m.target, m.benchmark, m.metric): m.unit for m in measured}
    outcomes = [r for run_id in run_ids for r in store.results(run_id) if r["status"] != "ok"]
    if args.json:
        emit_json(
            {
                "runs": [store.run(run_id) for run_id in run_ids],
                "metrics": [
                    {
                        "target": t,
                        "benchmark": b,
                        "metric": m,
                        "unit": units[(t, b, m)],
                        **summary.to_json(),
                    }
                    for (t, b, m), summary in stats.items()
                ],
                "problems": outcomes,
            }
        )
        return 0
    for run_id in run_ids:
        run = store.run(run_id)
        print(
            f"run {run_id} {run['label']!r}: {run['status']}, targets {', '.join(run['targets'])}"
        )
        if run["reason"]:
            print(f"  reason: {run['reason']}")
    for (target, bench, metric), summary in stats.items():
        ci = f" ±{(summary.ci95[1] - summary.mean):.4g}" if summary.ci95 else ""
        cv = f" cv {summary.cv_pct:.1f}%" if summary.cv_pct is not None else ""
        print(
            f"  {target:<10} {bench:<22} {metric:<38} n={summary.n:<3} "
            f"{summary.mean:.6g}{ci} {units[(target, bench, metric)]}{cv}"
        )
    for outcome in outcomes:
        print(
            f"  {outcome['target']:<10} {outcome['benchmark']:<22} {outcome['status']}: "
            f"{outcome['message']}"
        )
    return 0


def cmd_results_compare(args: argparse.Namespace, ctx: Context) -> int:
    """Overhead of one or more profiles relative to a base, with confidence intervals."""
    from sevtui.bench.results import build_comparisons
    from sevtui.bench.stats import prefetch_distributions

    prefetch_distributions()
    store = _store(ctx)
    run_ids = store.resolve(args.run)
    comparisons = build_comparisons(
        store.series(run_ids),
        args.base,
        args.other,
        ctx.config.bench.cv_threshold_pct,
        _catalog(ctx).headlines(),
        store.facts(run_ids),
    )
    if args.json:
        sys.stdout.write(comparisons.to_json_text())
    elif args.csv:
        sys.stdout.write(comparisons.to_csv())
    elif args.markdown:
        sys.stdout.write(comparisons.to_markdown())
    else:
        _print_comparisons(comparisons)
    return 0


def _print_comparisons(comparisons: ComparisonSet) -> None:
    """Metric rows with one column group per other profile, then the benchmark means."""
    from sevtui.bench.results import format_ci, format_pct, format_value

    tables = comparisons.tables
    others = ", ".join(t.other for t in tables)
    print(f"overhead of {others} relative to {comparisons.base} (positive: slower than base)")
    for table in tables:
        for warning in table.warnings:
            print(f"warning ({table.other}): {warning}")
    rows = {(r.category, r.benchmark, r.metric): r for r in tables[0].rows}
    for table in tables[1:]:
        for row in table.rows:
            rows.setdefault((row.category, row.benchmark, row.metric), row)
    by_other = [{(r.category, r.benchmark, r.metric): r for r in t.rows} for t in tables]
    header = f"  {'benchmark':<22} {'metric':<34} {'base':>11}"
    for table in tables:
        header += f" | {table.other[:11]:>11} {'overhead':>9} {'95% CI':<17}"
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
                line += f" | {'-':>11} {'':>9} {'':<17}"
                continue
            c = cell.comparison
            marks = ("*" if c.significant else "") + ("~" if cell.noisy else "")
            marks += "!" * len(cell.flags)
            line += (
                f" | {format_value(c.other.mean):>11} {format_pct(c.overhead_pct):>8}% "
                f"{format_ci(c.overhead_ci95):<14}{marks:<3}"
            )
        print(line + f" {first.unit}")
    for table in tables:
        _print_means(table)
    print(
        "\nH headline metric (enters the means)   * significant (Welch's t on logs, p < 0.05)   "
        "~ noisy (CV above bench.cv_threshold_pct)   ! flagged (see warnings)"
    )


def _print_means(table: ComparisonTable) -> None:
    from sevtui.bench.results import format_ci, format_pct

    print(f"\n{table.other} vs {table.base}, per benchmark (geometric mean of headline metrics):")
    for bench in table.benchmarks:
        why = f"  ({bench.reason})" if bench.reason else ""
        print(
            f"  {bench.category:<7} {bench.benchmark:<24} {format_pct(bench.overhead_pct):>8} % "
            f"{format_ci(bench.overhead_ci95):<18}{why}"
        )
    for name, overhead in table.categories.items():
        print(f"  {name:<8} geometric mean over benchmarks {overhead:+.2f} %")
    if table.overall is not None:
        print(f"  overall  geometric mean over benchmarks {table.overall:+.2f} %")
    if table.not_compared:
        print(f"  not compared: {len(table.not_compared)} metrics, e.g. {table.not_compared[0]}")


# --- parser -----------------------------------------------------------------------------


def _globals() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="FILE",
        type=Path,
        default=argparse.SUPPRESS,
        help="config file (default: ./config.toml, then $XDG_CONFIG_HOME/sevtui/config.toml)",
    )
    common.add_argument(
        "--db",
        metavar="FILE",
        type=Path,
        default=argparse.SUPPRESS,
        help="results database (default: DATA_DIR/sevtui.db)",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree; every command has --help."""
    common = _globals()
    parser = argparse.ArgumentParser(
        prog="sevtui",
        description="Evaluate confidential VMs (AMD SEV, SEV-ES, SEV-SNP) against normal VMs. "
        "With no command, opens the terminal app.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"sevtui {__version__}")
    top = _Commands(parser.add_subparsers(dest="command", metavar="COMMAND"), common)

    caps = top.command(
        "caps",
        cmd_caps,
        "what this host can do for confidential VMs, and why not",
        "Check CPU, firmware, kernel, KVM and QEMU for SEV / SEV-ES / SEV-SNP, like "
        "`snphost ok`, and say which VM kinds can launch here.",
    )
    caps.add_argument("--json", action="store_true", help="print JSON")
    caps.add_argument(
        "--sysroot", metavar="DIR", help="read proc/, sys/, dev/ under DIR instead of /"
    )
    caps.add_argument(
        "--cpuid-file",
        metavar="FILE",
        help="take leaf 0x8000001F from `cpuid -1 -r` or `cpuid -1 -l 0x8000001f` output",
    )
    caps.add_argument(
        "--require",
        choices=VM_KINDS,
        metavar="KIND",
        help="exit 1 unless KIND (nosev, sev, sev-es, sev-snp) can launch here",
    )

    config = top.group("config", "inspect the configuration", "Config tools.")
    check = config.command(
        "check",
        cmd_config_check,
        "validate config.toml and print the effective config",
        "Validate the config (exit 2 on problems) and print the effective values.",
    )
    check.add_argument("--json", action="store_true", help="print JSON")

    _vm_commands(
        top.group(
            "vm",
            "start, stop, list and use VMs",
            "VM lifecycle: each VM runs detached from sevtui with a private state dir.",
        )
    )
    _image_commands(top.group("image", "guest images", "Build guest images."))
    _import_command(top)
    _results_commands(
        top.group("results", "browse and compare stored runs", "Stored runs: list, show, compare.")
    )
    _bench_commands(
        top.group(
            "bench", "run benchmark suites in VMs and on the host", "Benchmarks: run, resume, list."
        )
    )

    probe = top.command(
        "probe",
        cmd_probe,
        "can the host read this guest's memory? (plant a canary, search QEMU)",
        "Plant a random canary in the running guest and search the QEMU process's memory "
        "for it from the host, like the seed's gcore | grep demo.",
    )
    probe.add_argument("name", help="VM name (or an external QEMU's name with --secret)")
    probe.add_argument(
        "--method",
        choices=("scan", "gcore"),
        default="scan",
        help="scan: read the resident guest RAM (default); gcore: the seed's way",
    )
    probe.add_argument("--secret", metavar="TEXT", help="search for TEXT you planted yourself")
    probe.add_argument("--all", action="store_true", help="scan every readable mapping")
    probe.add_argument("--json", action="store_true", help="print JSON")
    return parser


class _Commands:
    """Adds commands (and groups of them) that all take the global options."""

    def __init__(self, subparsers: Any, common: argparse.ArgumentParser) -> None:
        self.subparsers = subparsers
        self.common = common

    def command(
        self, name: str, handler: Handler, summary: str, description: str = ""
    ) -> argparse.ArgumentParser:
        """A command with --help, the global options and its handler."""
        parser: argparse.ArgumentParser = self.subparsers.add_parser(
            name, parents=[self.common], help=summary, description=description or summary
        )
        parser.set_defaults(handler=handler)
        return parser

    def group(self, name: str, summary: str, description: str) -> _Commands:
        """A command that holds commands; on its own it prints its help."""
        parser: argparse.ArgumentParser = self.subparsers.add_parser(
            name, parents=[self.common], help=summary, description=description
        )
        parser.set_defaults(handler=_help_for(parser))
        return _Commands(
            parser.add_subparsers(dest=f"{name}_command", metavar="COMMAND"), self.common
        )


def _vm_commands(vm: _Commands) -> None:
    argv_cmd = vm.command("argv", cmd_vm_argv, "print the QEMU argv of a VM without starting it")
    argv_cmd.add_argument("name", help="VM name from config.toml")
    argv_cmd.add_argument("--json", action="store_true", help='print {"argv": [...]}')
    start = vm.command("start", cmd_vm_start, "start a VM (it keeps running after sevtui exits)")
    start.add_argument("name", help="VM name from config.toml")
    start.add_argument(
        "--force", action="store_true", help="start even if the host check says it cannot run"
    )
    start.add_argument(
        "--no-wait", action="store_true", help="return once QMP answers; do not wait for the guest"
    )
    stop = vm.command("stop", cmd_vm_stop, "stop a VM: ACPI powerdown, then quit, SIGTERM, SIGKILL")
    stop.add_argument("name", help="VM name")
    stop.add_argument("--kill", action="store_true", help="SIGKILL at once (like virsh destroy)")
    stop.add_argument(
        "--grace",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how long the guest gets to power off before escalation (default 10)",
    )
    listing = vm.command("list", cmd_vm_list, "configured VMs and other QEMU processes here")
    listing.add_argument("--json", action="store_true", help="print JSON rows")
    exec_cmd = vm.command("exec", cmd_vm_exec, "run a command in the guest (serial console)")
    exec_cmd.add_argument("name", help="VM name")
    exec_cmd.add_argument(
        "--timeout", type=float, default=60.0, metavar="SECONDS", help="default 60"
    )
    exec_cmd.add_argument("command", nargs="*", help="the command, after -- (e.g. -- uname -r)")
    console = vm.command(
        "console", cmd_vm_console, "attach this terminal to the guest console (Ctrl-] detaches)"
    )
    console.add_argument("name", help="VM name")


def _image_commands(image: _Commands) -> None:
    build = image.command(
        "build",
        cmd_image_build,
        "build the minimal guest (kernel + busybox initramfs with the benchmark tools)",
        "Build the minimal guest under IMAGE_DIR; reused while its inputs are unchanged.",
    )
    build.add_argument("--force", action="store_true", help="rebuild even when up to date")
    cloud = image.command(
        "prepare-cloud",
        cmd_image_prepare_cloud,
        "disk, ssh key and cloud-init seed for a VM from a cloud image (as in the seed)",
        "qemu-img convert + resize, a generated ssh key (0600, in a 0700 dir) and a "
        "cloud-init seed ISO (cloud-localds) under DATA_DIR/vms/NAME.",
    )
    cloud.add_argument("--base", required=True, metavar="IMG", help="cloud image to copy")
    cloud.add_argument("--vm", required=True, metavar="NAME", help="VM name from config.toml")
    cloud.add_argument(
        "--grow", default="20G", metavar="SIZE", help="grow the disk by SIZE (default 20G)"
    )


def _import_command(top: _Commands) -> None:
    importer = top.command(
        "import",
        cmd_import,
        "import results measured elsewhere (mbw, tinymembench, redis CSV, tinyben, CSV)",
        "Parse every file first; store one run per profile, or nothing on error.",
    )
    importer.add_argument("files", nargs="+", metavar="FILE")
    importer.add_argument("--label", required=True, help="label of the imported run(s)")
    importer.add_argument("--profile", help="profile (VM) the values belong to")
    importer.add_argument(
        "--format",
        default="auto",
        choices=("auto", "mbw", "tinymembench", "redis-csv", "tinyben", "csv"),
        help="file format (default: recognise it)",
    )
    importer.add_argument("--benchmark-col", help="CSV column with the benchmark name")
    importer.add_argument("--value-col", help="CSV column with the value")
    importer.add_argument("--metric-col", help="CSV column with the metric name")
    importer.add_argument("--profile-col", help="CSV column with the profile (one run each)")
    importer.add_argument("--unit", help="unit of CSV values")
    importer.add_argument(
        "--direction",
        default="lower",
        choices=("lower", "higher"),
        help="whether lower or higher CSV values are better (default lower)",
    )


def _results_commands(results: _Commands) -> None:
    listing = results.command("list", cmd_results_list, "stored runs", "List stored runs.")
    listing.add_argument("--json", action="store_true", help="print JSON rows")
    show = results.command(
        "show",
        cmd_results_show,
        "one run's statistics per target and metric",
        "Statistics (n, mean, CI, CV) of RUN: an id, or a label (all its runs).",
    )
    show.add_argument("run", help="run id or label")
    show.add_argument("--json", action="store_true", help="print JSON")
    comp = results.command(
        "compare",
        cmd_results_compare,
        "overhead of one or more profiles relative to a base",
        "Per metric: means and overhead %% (ratio of means) with a 95 %% CI from Welch's t on "
        "the log values; per benchmark: geometric mean of its headline metrics; per category "
        "and overall: geometric mean over benchmarks. RUN is an id or a label.",
    )
    comp.add_argument("run", help="run id or label")
    comp.add_argument("--base", required=True, help="baseline profile (e.g. nosev or host)")
    comp.add_argument(
        "--other",
        required=True,
        action="append",
        help="profile compared with the base (e.g. sev-snp); repeat for several",
    )
    fmt = comp.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print JSON")
    fmt.add_argument("--csv", action="store_true", help="print CSV")
    fmt.add_argument("--markdown", action="store_true", help="print a Markdown table")


def _bench_commands(bench: _Commands) -> None:
    run = bench.command(
        "run",
        cmd_bench_run,
        "run a suite on one or more VMs (and/or host)",
        "Starts VMs that are not running, runs the suite on each, interleaving targets per "
        "repetition, and stores every value as it is parsed. `host` is the bare-metal baseline.",
    )
    run.add_argument(
        "--vm", action="append", required=True, metavar="NAME", help="VM name or host (repeatable)"
    )
    run.add_argument("--suite", default="quick", help="suite name (default quick)")
    run.add_argument(
        "--repetitions", type=int, metavar="N", help="repetitions (default bench.repetitions)"
    )
    run.add_argument("--warmup", type=int, metavar="N", help="warm-up runs (default bench.warmup)")
    run.add_argument("--label", help="run label (default SUITE-DATE)")
    resume = bench.command(
        "resume",
        cmd_bench_resume,
        "run only what an interrupted run is missing",
        "Continue an interrupted run: measures only the missing repetitions.",
    )
    resume.add_argument("run", help="run id")
    listing = bench.command(
        "list",
        cmd_bench_list,
        "benchmarks and suites",
        "The catalog: built-in and config.toml benchmarks and suites.",
    )
    listing.add_argument("--json", action="store_true", help="print JSON")


def _help_for(parser: argparse.ArgumentParser) -> Handler:
    def show(_args: argparse.Namespace, _ctx: Context) -> int:
        parser.print_help()
        return 2

    return show


def open_tui(ctx: Context) -> int:
    """`sevtui` with no command: the terminal app."""
    if not sys.stdout.isatty():
        raise UsageError("the sevtui app needs a terminal", "run a command instead: sevtui --help")
    # Start-up allocates thousands of long-lived objects; collecting while it does only delays
    # the first frame. The app turns collection back on once that frame is drawn.
    gc.disable()
    from sevtui.tui.app import SevtuiApp
    from sevtui.tui.sources import LiveSources

    app = SevtuiApp(lambda: LiveSources(ctx.config))
    app.run()
    return app.return_code or 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, run one handler, turn errors into messages and exit codes."""
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    passthrough: list[str] = []
    if "--" in words:
        split = words.index("--")
        words, passthrough = words[:split], words[split + 1 :]
    args = parser.parse_args(words)
    args.passthrough = passthrough
    ctx = Context(getattr(args, "config", None), getattr(args, "db", None))
    handler: Handler | None = getattr(args, "handler", None)
    try:
        if handler is None:
            return open_tui(ctx)
        return handler(args, ctx)
    except SevtuiError as exc:
        print(f"sevtui: error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"  hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("sevtui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
