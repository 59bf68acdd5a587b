"""The `sevtui` command line: a thin layer over the core, one handler per command."""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import shlex
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from sevtui.base.errors import ConfigError, SevtuiError, UsageError

if TYPE_CHECKING:
    from sevtui.bench.events import Design, Event, RunPlan
    from sevtui.config import Config, LoadedConfig
    from sevtui.session import Session

Handler = Callable[[argparse.Namespace, "Context"], int]
HANDLERS: dict[str, Handler] = {}
"""Command path (`results plot`) -> its handler, registered by @handles beside it."""


def handles(command: str) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of COMMAND."""

    def register(handler: Handler) -> Handler:
        if command in HANDLERS:
            raise ValueError(f"two handlers for {command!r}")
        HANDLERS[command] = handler
        return handler

    return register


@dataclass
class Context:
    """What every command gets: the parsed global options and the config, loaded once."""

    config_path: Path | None
    db_path: Path | None
    _loaded: LoadedConfig | None = field(default=None, init=False)
    _session: Session | None = field(default=None, init=False)

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

    @property
    def session(self) -> Session:
        """The facade over the core (created on first use)."""
        if self._session is None:
            from sevtui.session import Session

            self._session = Session(self.config)
        return self._session


def emit_json(data: Any) -> None:
    """Print JSON for scripts: indented, keys in a stable order."""
    print(json.dumps(data, indent=2, default=str, allow_nan=False))


# --- caps -------------------------------------------------------------------------------


@handles("caps")
def cmd_caps(args: argparse.Namespace, ctx: Context) -> int:
    """Report what this host can do for confidential VMs."""
    from sevtui.cli.text import print_caps

    sysroot = Path(args.sysroot) if args.sysroot else Path("/")
    if not sysroot.is_dir():
        raise UsageError(f"--sysroot {sysroot}: not a directory", "give a copied machine root")
    report = ctx.session.inspect(sysroot, Path(args.cpuid_file) if args.cpuid_file else None)
    vms = {name: vm.kind for name, vm in ctx.config.vm.items()}
    if args.require and not args.json:
        verdict = report.profiles[args.require]
        if not args.quiet:
            can = "can launch here" if verdict.launchable else "cannot launch here"
            print(f"{args.require}: {can}: {verdict.reason}")
        return 0 if verdict.launchable else 1
    if args.json:
        data = report.to_json()
        data["vms"] = {
            name: {"kind": kind, **vars(report.profiles[kind])} for name, kind in vms.items()
        }
        emit_json(data)
    else:
        print_caps(report, vms)
    if args.require and not report.profiles[args.require].launchable:
        return 1
    return 0


@handles("config check")
def cmd_config_check(args: argparse.Namespace, ctx: Context) -> int:
    """Validate the config and print the effective values."""
    from sevtui.cli.text import print_toml
    from sevtui.config import dump_config

    loaded = ctx.loaded
    source = str(loaded.source) if loaded.source else "built-in defaults"
    problems = ctx.session.config_problems()
    if problems:
        raise ConfigError(
            [f"{source}: {line}" for line in problems], "fix these lines in the config file"
        )
    data = dump_config(loaded.config)
    if args.json:
        emit_json({"source": source, "config": data})
        return 0
    print(f"# config OK: {source}")
    print_toml(data)
    return 0


# --- vm ---------------------------------------------------------------------------------


@handles("vm argv")
def cmd_vm_argv(args: argparse.Namespace, ctx: Context) -> int:
    """Print the QEMU argv of a VM without starting it."""
    from sevtui.cli.text import print_argv_explained, progress

    planned = ctx.session.vm_argv(args.name)
    for note in planned.notes:
        progress(f"warning: {note}")
    for blocker in planned.blockers:
        progress(f"warning: cannot start: {blocker}")
    if args.json:
        emit_json(planned.to_json())
    elif args.explain:
        print_argv_explained(planned)
    else:
        print(shlex.join(planned.argv))
    return 0


@handles("vm start")
def cmd_vm_start(args: argparse.Namespace, ctx: Context) -> int:
    """Start a configured VM detached from sevtui."""
    from sevtui.cli.text import progress

    result = ctx.session.start_vm(args.name, args.force, not args.no_wait, progress)
    for note in result.notes:
        progress(f"note: {note}")
    print(result.summary())
    return 0


@handles("vm stop")
def cmd_vm_stop(args: argparse.Namespace, ctx: Context) -> int:
    """Stop a running VM, escalating from ACPI powerdown to SIGKILL."""
    from sevtui.cli.text import progress

    print(ctx.session.stop_vm(args.name, args.kill, args.grace, progress, args.force).summary())
    return 0


@handles("vm list")
def cmd_vm_list(args: argparse.Namespace, ctx: Context) -> int:
    """List configured VMs and every other QEMU process on this host."""
    from sevtui.cli.text import print_vm_list

    rows = ctx.session.vm_list()
    if args.json:
        emit_json([row.to_json() for row in rows])
    else:
        print_vm_list(rows)
    return 0


@handles("vm details")
def cmd_vm_details(args: argparse.Namespace, ctx: Context) -> int:
    """How a VM was started and what it said: the app's VM details, as text or JSON."""
    from dataclasses import asdict

    details = ctx.session.vm_details(args.name)
    if args.json:
        emit_json(asdict(details))
        return 0
    for key, value in details.provenance.items():
        if value not in (None, ""):
            print(f"{key}: {value}")
    print(f"state dir: {details.state_dir}")
    print(f"argv: {shlex.join(details.argv) if details.argv else '(never started)'}")
    for title, text in (("QEMU stderr", details.stderr_tail), ("console", details.console_tail)):
        if text:
            print(f"--- {title} (last lines)\n{text}")
    return 0


@handles("vm exec")
def cmd_vm_exec(args: argparse.Namespace, ctx: Context) -> int:
    """Run a command in the guest: over ssh for cloud guests, else the serial console."""
    command = list(args.passthrough) or list(args.command)
    if not command:
        raise UsageError("no command given", f"sevtui vm exec {args.name} -- uname -r")
    output, exit_status = ctx.session.exec_vm(args.name, shlex.join(command), args.timeout)
    sys.stdout.write(output)
    return exit_status


@handles("vm console")
def cmd_vm_console(args: argparse.Namespace, ctx: Context) -> int:
    """Attach this terminal to the guest console (Ctrl-] detaches)."""
    ctx.session.console(args.name)
    return 0


# --- image ------------------------------------------------------------------------------


@handles("image build")
def cmd_image_build(args: argparse.Namespace, ctx: Context) -> int:
    """Build (or reuse) the minimal or the Debian guest image."""
    from sevtui.cli.text import progress

    images = ctx.config.paths.images
    if args.image == "debian":
        from sevtui.image.debian import build_debian

        debian, rebuilt = build_debian(
            images,
            ctx.config.paths.sources,
            ctx.config.image.debian_mirror,
            force=args.force,
            progress=progress,
        )
        print(f"debian image {'built' if rebuilt else 'up to date'}: {debian.disk}")
        print(f"next: sevtui image prepare-cloud --base {debian.disk} --vm NAME")
        return 0
    from sevtui.image.minimal import build_minimal

    image, rebuilt = build_minimal(
        images, ctx.config.image.kernel, force=args.force, progress=progress
    )
    print(f"minimal image {'built' if rebuilt else 'up to date'}: {image.initrd.parent}")
    return 0


@handles("image prepare-cloud")
def cmd_image_prepare_cloud(args: argparse.Namespace, ctx: Context) -> int:
    """Make a VM's disk, ssh key and cloud-init seed from a cloud image."""
    made = ctx.session.prepare_cloud(args.vm, Path(args.base), args.grow, force=args.force)
    print(f"prepared {args.vm}: disk {made.disk}, cloud-init {made.seed_iso}, key {made.ssh_key}")
    if ctx.config.vm[args.vm].image != "cloud":
        print(f'to boot it, set in [vm.{args.vm}] of config.toml: image = "cloud"')
    return 0


@handles("image ensure")
def cmd_image_ensure(args: argparse.Namespace, ctx: Context) -> int:
    """Build what the named VMs need: one line per step, with its time."""
    from sevtui.cli.text import progress

    for step in ctx.session.ensure_images(args.vm, progress):
        print(step)
    return 0


# --- bench ------------------------------------------------------------------------------


@handles("bench run")
def cmd_bench_run(args: argparse.Namespace, ctx: Context) -> int:
    """Run a suite on VMs (and/or host), interleaved, storing every value as it is parsed."""
    from sevtui.cli.text import print_outcome

    if args.resume:
        if not args.label:
            raise UsageError("--resume needs --label: it continues the run with that label")
        previous = [run for run in ctx.session.runs() if run.label == args.label]
        if previous:
            newest = max(previous, key=lambda run: run.id)
            if newest.status == "done":
                print(f"run {newest.id} {args.label!r} is already done: nothing to measure")
                return 0
            if newest.status == "running":
                raise SevtuiError(
                    f"run {newest.id} {args.label!r} is still running in another sevtui",
                    "wait for it to end, then run this again",
                )
            plan = ctx.session.resume_plan(str(newest.id))
            return print_outcome(ctx.session.run(plan, _progress(args, ctx, plan)))
    plan = ctx.session.plan_run(
        args.vm, args.suite, args.repetitions, args.label, args.warmup, _design(args)
    )
    return print_outcome(ctx.session.run(plan, _progress(args, ctx, plan)))


def _design(args: argparse.Namespace) -> Design:
    """The run's design options as given on the command line."""
    from sevtui.bench.events import Design

    if args.precision is not None and not 0 < args.precision < 100:
        raise UsageError(f"--precision {args.precision:g}: give a percentage above 0, below 100")
    return Design(args.concurrent, args.launches, args.order, args.seed, args.precision)


def _progress(args: argparse.Namespace, ctx: Context, plan: RunPlan) -> Callable[[Event], None]:
    """The plan said first; then progress lines on stderr, and with --events FILE a
    JSON line per event there too (the file is checked before anything runs)."""
    from sevtui.cli.text import EventLog, ProgressPrinter, progress

    printer = ProgressPrinter()
    emit = EventLog(Path(args.events), printer) if args.events else printer
    for line in ctx.session.plan_notes(plan).lines:
        progress(f"plan: {line}")
    return emit


@handles("bench sweep")
def cmd_bench_sweep(args: argparse.Namespace, ctx: Context) -> int:
    """Run a suite on every variant of the named VMs (one per combination of values)."""
    from sevtui.cli.text import print_outcome, progress

    base = ctx.session.plan_run(
        [], args.suite, args.repetitions, args.label, args.warmup, _design(args)
    )
    plan = ctx.session.plan_sweep(args.vm, args.vary, base)
    progress(f"sweep of {len(plan.targets)} variants: {', '.join(plan.targets)}")
    return print_outcome(ctx.session.run(plan, _progress(args, ctx, plan)))


@handles("bench resume")
def cmd_bench_resume(args: argparse.Namespace, ctx: Context) -> int:
    """Run only what a failed or interrupted run is missing."""
    from sevtui.cli.text import print_outcome

    plan = ctx.session.resume_plan(args.run)
    return print_outcome(ctx.session.run(plan, _progress(args, ctx, plan)))


@handles("bench list")
def cmd_bench_list(args: argparse.Namespace, ctx: Context) -> int:
    """List benchmarks and suites."""
    catalog = ctx.session.catalog
    if args.json:
        emit_json(
            {
                "benchmarks": [
                    {**vars(b), "source": b.source.to_json() if b.source else None}
                    for b in catalog.benchmarks.values()
                ],
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


@handles("probe")
def cmd_probe(args: argparse.Namespace, ctx: Context) -> int:
    """Plant a canary in a running guest and search QEMU's memory for it from the host."""
    result, kind = ctx.session.probe_vm(args.name, args.method, args.secret, args.all)
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


@handles("attest")
def cmd_attest(args: argparse.Namespace, ctx: Context) -> int:
    """Verify a report file, or fetch, verify and store a running VM's attestation."""
    from sevtui.cli.text import print_attestation

    if args.target == "verify":
        if args.sample:
            if args.report is not None or args.vcek is not None:
                raise UsageError("--sample verifies the shipped report with its own VCEK")
            args.report, args.vcek = (str(path) for path in _sample_attestation())
        if args.report is None:
            raise UsageError(
                "attest verify needs a report file",
                "sevtui attest verify REPORT (or --sample for the shipped one)",
            )
        quote = ctx.session.td_quote(Path(args.report))
        if quote is not None:
            return _verify_td_quote(args, ctx, quote)
        result = ctx.session.attest_report(Path(args.report), args.vcek, args.chain, args.product)
        source = args.report
    else:
        if args.report is not None or args.chain is not None or args.sample:
            raise UsageError(
                f"attest {args.target} takes no report file and no --chain",
                "to check a file: sevtui attest verify REPORT",
            )
        result = ctx.session.attest_vm(args.target, args.vcek, args.product)
        source = f"VM {args.target}"
    if args.json:
        emit_json(result.to_json())
    else:
        print_attestation(result, source)
    return 0 if result.verified else 1


def _verify_td_quote(args: argparse.Namespace, ctx: Context, quote: bytes) -> int:
    """`attest verify QUOTE`: a TD quote to Intel's root; exit 0/1 by the verdict."""
    from sevtui.attest.tdquote import UP_TO_DATE
    from sevtui.cli.text import print_td_quote

    result = ctx.session.verify_td_quote(quote, args.collateral, args.at, args.nonce)
    if args.json:
        emit_json(result.to_json())
    else:
        print_td_quote(result, args.report)
    if args.require_up_to_date and result.verified and result.tcb_status != UP_TO_DATE:
        print(f"TCB status {result.tcb_status}, not {UP_TO_DATE} (--require-up-to-date)")
        return 1
    return 0 if result.verified else 1


def _sample_attestation() -> tuple[Path, Path]:
    """The real Milan report and its VCEK shipped as package data."""
    from importlib import resources

    folder = resources.files("sevtui").joinpath("data", "samples")
    return (
        Path(str(folder.joinpath("snp-report-milan.hex"))),
        Path(str(folder.joinpath("snp-vcek-milan.der"))),
    )


# --- results ----------------------------------------------------------------------------


@handles("import")
def cmd_import(args: argparse.Namespace, ctx: Context) -> int:
    """Import mbw, tinymembench, redis CSV, tinyben or long CSV files as runs."""
    from sevtui.bench.importer import CsvColumns, ImportRequest

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
    files = [Path(f) for f in args.files]
    request = ImportRequest(files, args.label, args.profile, args.format, columns)
    runs = ctx.session.import_files(request)
    for profile, (run_id, count) in runs.items():
        print(f"imported run {run_id}: label {args.label!r}, profile {profile!r}, {count} values")
    return 0


@handles("results list")
def cmd_results_list(args: argparse.Namespace, ctx: Context) -> int:
    """List stored runs."""
    from sevtui.cli.text import print_run_list

    runs = ctx.session.runs()
    if args.json:
        emit_json([run.to_json() for run in runs])
    else:
        print_run_list(runs)
    return 0


@handles("results show")
def cmd_results_show(args: argparse.Namespace, ctx: Context) -> int:
    """Show one run (or all runs with a label): its status, summaries per target and metric."""
    from sevtui.cli.text import print_run_details, print_runs

    report = ctx.session.report(args.run)
    if args.json:
        emit_json(report.to_json())
    else:
        print_runs(report)
        if args.details:
            print_run_details(report)
    return 0


@handles("results output")
def cmd_results_output(args: argparse.Namespace, ctx: Context) -> int:
    """The raw output of one repetition."""
    text = ctx.session.repetition_output(args.run, args.target, args.benchmark, args.repetition)
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    return 0


@handles("results compare")
def cmd_results_compare(args: argparse.Namespace, ctx: Context) -> int:
    """Overhead of one or more profiles relative to a base, with confidence intervals."""
    from sevtui.cli.text import print_along, print_comparisons

    if args.along:
        if len(args.other) != 1 or args.csv or args.markdown:
            raise UsageError("--along compares one --other, as text or --json")
        points = ctx.session.compare_along(
            ctx.session.resolve(args.run), args.base, args.other[0], args.along
        )
        if args.json:
            along = {"base": args.base, "other": args.other[0], "along": args.along}
            emit_json({**along, "points": [point.to_json() for point in points]})
        else:
            print_along(points, args.along)
        return 0
    if args.by_host:
        return _compare_by_host(args, ctx)
    comparisons = ctx.session.comparisons(ctx.session.resolve(args.run), args.base, args.other)
    if args.json:
        sys.stdout.write(comparisons.to_json_text())
    elif args.csv:
        sys.stdout.write(comparisons.to_csv())
    elif args.markdown:
        sys.stdout.write(comparisons.to_markdown())
    else:
        print_comparisons(comparisons)
    return 0


@handles("results plot")
def cmd_results_plot(args: argparse.Namespace, ctx: Context) -> int:
    """Draw a figure of the overhead into a PDF, SVG or PNG file."""
    from sevtui.report.figures import PlotRequest

    metric = None
    if args.benchmark or args.metric:
        if not (args.benchmark and args.metric):
            raise UsageError("--benchmark and --metric go together")
        metric = (args.benchmark, args.metric)
    request = PlotRequest(Path(args.output), args.kind, args.width, args.along, metric)
    request.check(args.other)
    path = ctx.session.plot(ctx.session.resolve(args.run), args.base, args.other, request)
    print(f"figure written: {path}")
    return 0


@handles("report")
def cmd_report(args: argparse.Namespace, ctx: Context) -> int:
    """Write a study's report folder."""
    run_ids = list(dict.fromkeys(i for ref in args.runs for i in ctx.session.resolve(ref)))
    folder = Path(args.output)
    written = ctx.session.write_report(run_ids, args.base, args.other, folder, args.force)
    print(f"report written: {folder / 'report.html'} ({len(written)} files)")
    for path in written:
        print(f"  {path}")
    return 0


def _compare_by_host(args: argparse.Namespace, ctx: Context) -> int:
    """One comparison per host that measured the run(s): text, JSON, CSV or Markdown."""
    from sevtui.cli.text import print_comparisons

    if args.along:
        raise UsageError("--by-host and --along do not combine", "pick one")
    per_host = ctx.session.comparisons_by_host(ctx.session.resolve(args.run), args.base, args.other)
    if args.json:
        hosts = {host: comparisons.to_json() for host, comparisons in per_host.items()}
        emit_json({"base": args.base, "others": args.other, "hosts": hosts})
    elif args.csv:
        import csv
        import io

        from sevtui.bench.results import csv_cell

        writer = csv.writer(sys.stdout)
        for index, (host, comparisons) in enumerate(per_host.items()):
            rows = list(csv.reader(io.StringIO(comparisons.to_csv())))
            if index == 0:
                writer.writerow(["host", *rows[0]])
            writer.writerows([csv_cell(host), *row] for row in rows[1:])
    else:
        for host, comparisons in per_host.items():
            sys.stdout.write(f"\n## {host}\n\n" if args.markdown else f"\nhost {host}\n")
            if args.markdown:
                sys.stdout.write(comparisons.to_markdown())
            else:
                print_comparisons(comparisons)
    return 0


@handles("results merge")
def cmd_results_merge(args: argparse.Namespace, ctx: Context) -> int:
    """Copy runs from other sevtui databases into this one, by run UUID."""
    merged = ctx.session.merge([Path(name) for name in args.files])
    if args.json:
        emit_json([item.to_json() for item in merged])
        return 0
    for item in merged:
        print(
            f"{item.path}: {len(item.added)} run(s) merged, {len(item.present)} already here, "
            f"{item.probes} probe(s) added"
        )
    return 0


@handles("fleet caps")
def cmd_fleet_caps(args: argparse.Namespace, ctx: Context) -> int:
    """One capability row per host of the inventory."""
    from sevtui.cli.text import print_fleet_rows, progress
    from sevtui.fleet.run import KINDS, FleetRequest

    request = FleetRequest(Path(args.inventory), _fleet_config(ctx), "caps")
    wheel = Path(args.wheel) if args.wheel else None
    outcomes = ctx.session.fleet(request, wheel, lambda step: progress(step.line()))
    rows = [outcome.row() for outcome in outcomes]
    if args.json:
        emit_json(rows)
    else:
        columns = ("host", "cpu", "microcode", "kernel", "qemu", "firmware", *KINDS, "why_not")
        print_fleet_rows(rows, columns)
    return 0 if all(outcome.status == "ok" for outcome in outcomes) else 1


@handles("fleet run")
def cmd_fleet_run(args: argparse.Namespace, ctx: Context) -> int:
    """Run a suite on every host, then merge what came back."""
    from sevtui.cli.text import print_fleet_rows, progress
    from sevtui.fleet.run import KINDS, FleetRequest

    request = FleetRequest(
        Path(args.inventory),
        _fleet_config(ctx),
        "run",
        args.label,
        tuple(args.vm),
        args.suite,
        args.repetitions,
    )
    wheel = Path(args.wheel) if args.wheel else None
    outcomes = ctx.session.fleet(request, wheel, lambda step: progress(step.line()))
    databases = [outcome.database for outcome in outcomes if outcome.database is not None]
    merged = ctx.session.merge(databases) if databases else []
    print_fleet_rows(
        [outcome.row() for outcome in outcomes],
        ("host", "cpu", *KINDS, "images", "status", "reason"),
    )
    added = sum(len(item.added) for item in merged)
    print(f"merged {added} new run(s) from {len(databases)} host database(s) into this one")
    print(f"compare: sevtui results compare {args.label} --base BASE --other OTHER --by-host")
    return 0 if all(outcome.status == "ok" for outcome in outcomes) else 1


def _fleet_config(ctx: Context) -> Path:
    """The config file the hosts get: the one this sevtui loaded."""
    source = ctx.loaded.source
    if source is None:
        raise UsageError(
            "the fleet sends the hosts a config file, and none is loaded",
            "pass one with --config FILE (it defines the VMs the hosts run)",
        )
    return source


def open_tui(ctx: Context) -> int:
    """`sevtui` with no command: the terminal app."""
    if not sys.stdout.isatty():
        raise UsageError("the sevtui app needs a terminal", "run a command instead: sevtui --help")
    # Start-up allocates thousands of long-lived objects; collecting while it does only delays
    # the first frame. The app turns collection back on once that frame is drawn.
    gc.disable()
    from sevtui.tui.app import SevtuiApp

    app = SevtuiApp(lambda: ctx.session)
    app.run()
    return app.return_code or 0


"""Command path (`vm start`) -> its handler (`cmd_vm_start`)."""


@contextmanager
def _visible_output(stdout_too: bool) -> Iterator[None]:
    """Control characters in what a command prints are written out (labels, host replies
    and guest output come from outside); `vm exec` into a pipe stays byte for byte."""
    from sevtui.base.names import VisibleStream

    saved = sys.stdout, sys.stderr
    if stdout_too:
        sys.stdout = VisibleStream(sys.stdout)
    sys.stderr = VisibleStream(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def _stop_signals() -> contextlib.AbstractContextManager[None]:
    """SIGTERM and SIGHUP stop a command as Ctrl-C does: a run ends `interrupted`, its
    targets closed, its process groups killed and its work folders removed."""
    from sevtui.base.proc import signals_handled

    def interrupt(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")

    return signals_handled(interrupt, signal.SIGTERM, signal.SIGHUP)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, run one handler, turn errors into messages and exit codes."""
    from sevtui.cli.parser import build_parser

    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    passthrough: list[str] = []
    if "--" in words:
        split = words.index("--")
        words, passthrough = words[:split], words[split + 1 :]
    args = parser.parse_args(words)
    args.passthrough = passthrough
    ctx = Context(getattr(args, "config", None), getattr(args, "db", None))
    path: str | None = getattr(args, "path", None)
    group: argparse.ArgumentParser | None = getattr(args, "group_help", None)
    try:
        if path is not None:
            with _visible_output(path != "vm exec" or sys.stdout.isatty()), _stop_signals():
                return HANDLERS[path](args, ctx)
        if group is not None:
            group.print_help()
            return 2
        return open_tui(ctx)
    except SevtuiError as exc:
        from sevtui.base.names import visible

        print(f"sevtui: error: {visible(exc.message, lines=True)}", file=sys.stderr)
        hint = "; ".join(part for part in (exc.hint, exc.cli_hint) if part)
        if hint:
            print(f"  hint: {visible(hint, lines=True)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        print(f"sevtui: interrupted{f' ({exc})' if str(exc) else ''}", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
