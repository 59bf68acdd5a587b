"""The one facade both front ends call: the CLI prints what it returns, the TUI posts it.

A Session holds one config and computes the host's capability report once. Every method
may block (subprocess, QMP, SQLite); the TUI calls them from thread workers. SQLite
connections are opened per call, in the calling thread.
"""

from __future__ import annotations

import contextlib
import json
import math
import platform
import shlex
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sevtui.base import statedir
from sevtui.base.errors import SevtuiError, UsageError
from sevtui.base.sizes import format_duration, format_size
from sevtui.bench.events import Design, Event, PlanNotes, RunPlan

if TYPE_CHECKING:
    from sevtui.attest.service import Attestation
    from sevtui.bench.along import AlongPoint
    from sevtui.bench.catalog import Benchmark, Catalog
    from sevtui.bench.facts import RunFacts
    from sevtui.bench.importer import ImportRequest
    from sevtui.bench.results import ComparisonSet
    from sevtui.bench.runner import RunOutcome
    from sevtui.bench.stats import Summary
    from sevtui.config import Config
    from sevtui.fleet.run import FleetRequest, HostOutcome, HostProgress
    from sevtui.host.caps import CapabilityReport
    from sevtui.probe.exposure import Method, ProbeResult
    from sevtui.report.document import ProbeLine
    from sevtui.report.figures import PlotRequest
    from sevtui.store.db import AttestationRow, ResultRow, RunInfo, RunRow, Series, Store
    from sevtui.store.merge import MergedFile
    from sevtui.vm.inventory import InventoryWatcher, VmRow
    from sevtui.vm.lifecycle import StartResult, StopResult

Progress = Callable[[str], None]


def _quiet(_message: str) -> None:
    """Progress nobody reads."""


@dataclass(frozen=True)
class VmDetails:
    """What the VM detail view shows."""

    name: str
    argv: list[str]
    state_dir: str
    stderr_tail: str
    console_tail: str
    provenance: dict[str, Any]


@dataclass(frozen=True)
class ArgvPlan:
    """A VM's QEMU argv without starting it: why this accel, the firmware, the policy in
    words, warnings (`notes`) and what would stop a launch (`blockers`)."""

    argv: list[str]
    accel_reason: str
    notes: list[str]
    blockers: list[str]
    firmware: dict[str, Any]
    policy: str
    policy_flags: list[str]

    def to_json(self) -> dict[str, Any]:
        """The JSON of `vm argv --json`."""
        return {
            "argv": self.argv,
            "accel_reason": self.accel_reason,
            "firmware": self.firmware,
            "policy": self.policy,
            "policy_flags": self.policy_flags,
            "warnings": self.notes,
            "blockers": self.blockers,
        }


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


def _one_mode(facts: RunFacts, run_ids: list[int]) -> RunFacts:
    """FACTS, unless the runs mixed concurrent and interleaved measurement."""
    if len(facts.run_modes) > 1:
        raise UsageError(
            f"runs {', '.join(map(str, run_ids))} mix concurrent and interleaved measurement; "
            "their numbers are not comparable",
            "compare the concurrent runs and the interleaved runs separately (by run id)",
        )
    return facts


def _probe_lines(store: Store, run_ids: list[int], profiles: list[str]) -> list[ProbeLine]:
    """The newest probe of each profile, and whether it looked at a QEMU of these runs."""
    from sevtui.probe.exposure import EXPOSED, HIDDEN, INCONCLUSIVE
    from sevtui.report.document import ProbeLine

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
            ProbeLine(
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


def _step(what: str, built: bool, started: float) -> str:
    """`minimal image: built in 12.3 s`, or `up to date`."""
    took = time.monotonic() - started
    return f"{what}: built in {took:.1f} s" if built else f"{what}: up to date ({took:.1f} s)"


def _estimate(store: Store, plan: RunPlan, suite: list[Benchmark]) -> str:
    """About how long PLAN takes, from the targets' earlier runs of each benchmark."""
    total, unknown = 0.0, 0
    for target in plan.targets:
        for bench in suite:
            seconds = store.last_seconds(target, bench.id)
            if seconds is None:
                unknown += 1
                continue
            total += seconds * (plan.repetitions + plan.warmup) * plan.launches
    if total == 0:
        return "estimate: none yet (no earlier run of these benchmarks on these targets)"
    missing = f"; {unknown} benchmark/target pairs never ran before" if unknown else ""
    return f"estimate: about {format_duration(total)} from earlier runs{missing}"


def default_label(suite: str) -> str:
    """A run's label when none is given: the suite and the local time."""
    return f"{suite}-{time.strftime('%Y%m%d-%H%M%S')}"


class Session:
    """Config, capabilities, VMs, runs and results, for the CLI and the TUI alike."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.host_name = platform.node()
        self._report: CapabilityReport | None = None
        self._report_lock = threading.Lock()
        self._catalog: Catalog | None = None
        self._watcher: InventoryWatcher | None = None

    @property
    def data_dir(self) -> str:
        """Where sevtui keeps its data (exports go below it by default)."""
        return str(self.config.paths.data_dir)

    @property
    def vm_names(self) -> list[str]:
        """The configured VMs, in config order."""
        return list(self.config.vm)

    @property
    def suites(self) -> list[str]:
        """The suites a run can use."""
        return sorted(self.catalog.suites)

    @property
    def cv_threshold_pct(self) -> float:
        """The CV above which a metric is marked noisy."""
        return self.config.bench.cv_threshold_pct

    @property
    def default_repetitions(self) -> int:
        """Repetitions per launch when a plan does not say."""
        return self.config.bench.repetitions

    # --- host ---------------------------------------------------------------------------

    def capabilities(self) -> CapabilityReport:
        """This host's report, computed once (the KVM probe is cached on disk too)."""
        with self._report_lock:
            if self._report is None:
                self._report = self.inspect(Path("/"))
            return self._report

    def inspect(self, sysroot: Path, cpuid_file: Path | None = None) -> CapabilityReport:
        """A fresh report of this machine or of a replayed sysroot."""
        from sevtui.host.inspect import inspect_host
        from sevtui.host.kvm import ProbeGuest
        from sevtui.image.minimal import built_minimal

        image = built_minimal(self.config.paths.images)
        guest = ProbeGuest(image.kernel, image.initrd) if image else None
        return inspect_host(self.config, sysroot, cpuid_file, guest)

    # --- catalog ------------------------------------------------------------------------

    @property
    def catalog(self) -> Catalog:
        """Built-in and config.toml benchmarks and suites."""
        if self._catalog is None:
            from sevtui.bench.catalog import catalog_from_config

            self._catalog = catalog_from_config(self.config)
        return self._catalog

    # --- VMs ----------------------------------------------------------------------------

    def vm_argv(self, name: str) -> ArgvPlan:
        """The QEMU argv VM NAME would start with here."""
        from sevtui.vm.lifecycle import plan
        from sevtui.vm.sevparams import policy_flags
        from sevtui.vm.spec import build_argv

        resolved, why = plan(self.config, name, self.capabilities())
        spec = resolved.spec
        return ArgvPlan(
            build_argv(spec),
            why,
            list(resolved.notes),
            list(resolved.blockers),
            resolved.firmware.to_json(),
            f"{spec.policy:#x}" if spec.kind != "nosev" else "",
            policy_flags(spec.kind, spec.policy),
        )

    def config_problems(self) -> list[str]:
        """Problems with every VM's confidential parameters, for the QEMU configured here.

        With qemu.snp_dialect = "auto" the dialect comes from the installed QEMU; without
        one, the rules that depend on it are checked for upstream QEMU (>= 9.1).
        """
        from sevtui.host.qemu import probe_qemu, snp_dialect
        from sevtui.vm.sevparams import problems

        try:
            qemu = probe_qemu(self.config.qemu.binary)
        except SevtuiError:
            qemu = None
        dialect = snp_dialect(self.config.qemu.snp_dialect, qemu)
        return [
            line
            for name, profile in self.config.vm.items()
            for line in problems(name, profile, dialect)
        ]

    def start_vm(
        self, name: str, force: bool = False, wait_ready: bool = True, progress: Progress = _quiet
    ) -> StartResult:
        """Start VM NAME detached from sevtui (and wait for its guest)."""
        from sevtui.vm.lifecycle import start

        return start(self.config, name, self.capabilities(), force, wait_ready, progress)

    def stop_vm(
        self,
        name: str,
        kill: bool = False,
        grace_s: float = 10.0,
        progress: Progress = _quiet,
        force: bool = False,
    ) -> StopResult:
        """Stop (or kill) VM NAME, escalating from ACPI powerdown to SIGKILL.

        A VM a benchmark run holds is refused unless FORCE (the run would fail).
        """
        from sevtui.vm.lifecycle import stop

        user = self.vm_user(name)
        if user and not force:
            raise SevtuiError(
                f"{name} is in use by {user}",
                "stop the run first (t in the app, Ctrl-C where it runs)",
                cli_hint="--force stops the VM anyway",
            )
        return stop(self.config, name, kill=kill, grace_s=grace_s, progress=progress)

    def vm_user(self, name: str) -> str | None:
        """The benchmark run holding VM NAME, in words; None when none does."""
        from sevtui.vm import lease
        from sevtui.vm.resolve import vm_paths

        return lease.holder(vm_paths(self.config, name).root)

    def vm_list(self) -> list[VmRow]:
        """Configured VMs and every other QEMU, sampled once (`vm list`)."""
        from sevtui.vm.inventory import inventory

        return inventory(self.config)

    def console(self, name: str) -> None:
        """Attach this terminal to the running guest's console until Ctrl-]."""
        from sevtui.vm import console
        from sevtui.vm.lifecycle import status
        from sevtui.vm.resolve import vm_paths

        current = status(self.config, name)
        if current.state != "running":
            raise UsageError(f"VM {name!r} is not running: {current.state}")
        console.attach(vm_paths(self.config, name))

    def vms(self) -> list[VmRow]:
        """One refresh of the VM listing for a live view (CPU % since the last refresh)."""
        if self._watcher is None:
            from sevtui.vm.inventory import InventoryWatcher

            self._watcher = InventoryWatcher(self.config)
        return self._watcher.poll()

    def exec_vm(self, name: str, command: str, timeout: float) -> tuple[str, int]:
        """Run COMMAND in the running guest: over ssh for cloud guests, else the console."""
        from sevtui.vm import remote
        from sevtui.vm.lifecycle import status

        current = status(self.config, name)
        if current.state != "running":
            raise UsageError(f"VM {name!r} is not running: {current.state}")
        return remote.runner(self.config, name)(command, timeout)

    def probe_vm(
        self,
        name: str,
        method: Method = "scan",
        secret: str | None = None,
        everything: bool = False,
    ) -> tuple[ProbeResult, str]:
        """Plant a canary, scan QEMU's guest RAM, store the verdict; (result, VM kind)."""
        from sevtui.probe.exposure import probe_vm

        return probe_vm(self.config, name, method, secret, everything)

    def attest_report(
        self, report: Path, vcek: Path | None, chain: Path | None, product: str | None
    ) -> Attestation:
        """Verify a report file to AMD's root (`attest verify`)."""
        from sevtui.attest.service import verify_file
        from sevtui.attest.vms import key_sources

        return verify_file(report, key_sources(self.config, vcek, chain, product))

    def attest_vm(
        self, name: str, vcek: Path | None = None, product: str | None = None
    ) -> Attestation:
        """Fetch a fresh report from running VM NAME, verify it, compare it, store it."""
        from sevtui.attest.vms import as_row, attest_running, key_sources

        result = attest_running(self.config, name, key_sources(self.config, vcek, None, product))
        with self.store() as store:
            store.record_attestation(as_row(result.to_json()))
        return result

    def last_attestations(self) -> dict[str, AttestationRow]:
        """The newest stored attestation of each VM (from `attest` or a run)."""
        with self.store() as store:
            return store.last_attestations()

    def last_probes(self) -> dict[str, tuple[ProbeResult, float]]:
        """The newest stored probe of each running VM, with when it ran.

        A verdict belongs to one QEMU process: after a restart (new PID or start time)
        the VM has no verdict until it is probed again.
        """
        from sevtui.base.proc import process_started
        from sevtui.probe.exposure import ProbeResult
        from sevtui.vm.lifecycle import status

        with self.store() as store:
            found = {}
            for name in self.config.vm:
                row = store.last_probe(name)
                try:
                    pid = status(self.config, name).pid
                except SevtuiError:
                    continue
                started = process_started(pid)
                same_qemu = (
                    row is not None
                    and row.qemu_pid == pid
                    and row.qemu_started is not None
                    and started is not None
                    and abs(row.qemu_started - started) < 1
                )
                if row is not None and same_qemu and row.method in ("scan", "gcore"):
                    result = ProbeResult(
                        "gcore" if row.method == "gcore" else "scan",
                        row.found,
                        row.hits,
                        row.bytes_scanned,
                        row.seconds,
                        inconclusive=row.reason,
                    )
                    found[name] = (result, row.created)
            return found

    def vm_details(self, name: str) -> VmDetails:
        """argv, state dir, stderr and console tails, and how it was started."""
        from sevtui.vm.lifecycle import status, vm_record
        from sevtui.vm.resolve import vm_paths, vm_profile
        from sevtui.vm.sevparams import policy_flags
        from sevtui.vm.spec import DEFAULT_POLICY

        vm_profile(self.config, name)
        root = vm_paths(self.config, name).root

        def tail(file: str) -> str:
            text = statedir.tail(root, file, 16 << 10).decode(errors="replace")
            return "\n".join(text.splitlines()[-15:])

        record = vm_record(self.config, name)
        argv = record.argv
        saved = statedir.read(root, "argv.json") if not argv else None
        if saved:
            with contextlib.suppress(ValueError):
                argv = [str(arg) for arg in json.loads(saved)]
        current = status(self.config, name)
        provenance: dict[str, Any] = {
            "state": current.state,
            "ended": current.detail or None,
            "pid": record.pid,
            "accel": record.accel,
            "accel_reason": record.accel_reason,
        }
        if record.started_at:
            provenance["at"] = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.started_at))
        attestation = self.last_attestations().get(name)
        if attestation is not None:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(attestation.created))
            what = (
                f"verified, measurement {attestation.measurement}"
                if attestation.status == "verified"
                else f"{attestation.status}: {'; '.join(attestation.reasons) or '-'}"
            )
            provenance["attestation"] = f"{what} (at {when})"
        profile = self.config.vm.get(name)
        if profile is not None and profile.kind != "nosev":
            policy = profile.policy if profile.policy is not None else DEFAULT_POLICY[profile.kind]
            flags = ", ".join(policy_flags(profile.kind, policy))
            provenance["policy"] = f"{policy:#x}: {flags}"
        return VmDetails(
            name, list(argv), str(root), tail("stderr.log"), tail("serial.log"), provenance
        )

    # --- runs ---------------------------------------------------------------------------

    def plan_run(
        self,
        targets: list[str],
        suite: str,
        repetitions: int | None = None,
        label: str | None = None,
        warmup: int | None = None,
        design: Design | None = None,
    ) -> RunPlan:
        """A run plan with the config's warm-up, cap, timeout and design: a fixed number
        of repetitions per launch, launches (the seed suite 3, others 1, unless
        bench.launches or --launches says), and a seeded random order."""
        import secrets

        from sevtui.base.names import check_label

        if label is not None:
            check_label(label)
        bench = self.config.bench
        design = design or Design()
        launches = design.launches or bench.launches or (3 if suite == "seed" else 1)
        count = repetitions or bench.repetitions
        if design.precision_pct is not None and bench.max_repetitions < count + 2:
            raise UsageError(
                f"--precision measures a pilot of {count} repetitions and at least 2 more, "
                f"but bench.max_repetitions is {bench.max_repetitions}",
                f"raise bench.max_repetitions to {count + 2} or more",
            )
        return RunPlan(
            targets=list(dict.fromkeys(targets)),
            suite=suite,
            repetitions=count,
            label=label or default_label(suite),
            warmup=bench.warmup if warmup is None else warmup,
            max_repetitions=max(bench.max_repetitions, count),
            cv_threshold_pct=bench.cv_threshold_pct,
            timeout_s=bench.timeout_s,
            concurrent=design.concurrent,
            launches=launches,
            order=design.order,
            seed=design.seed if design.seed is not None else secrets.randbelow(2**31),
            precision_pct=design.precision_pct,
        )

    def ensure_images(self, names: list[str], progress: Progress = _quiet) -> list[str]:
        """Build (or reuse) the images the VMs NAMES need; one line per step with its time:
        the minimal guest, the Debian disk, each cloud VM's prepared disk."""
        from sevtui.image.debian import build_debian
        from sevtui.image.minimal import build_minimal
        from sevtui.vm.cloud import prepare_cloud
        from sevtui.vm.resolve import prepared_disk, vm_profile

        config, steps = self.config, []
        wanted = {vm_profile(config, name).image: name for name in names if name != "host"}
        if "minimal" in wanted:
            started = time.monotonic()
            _image, built = build_minimal(
                config.paths.images, config.image.kernel, progress=progress
            )
            steps.append(_step("minimal image", built, started))
        if "cloud" in wanted:
            started = time.monotonic()
            debian, built = build_debian(
                config.paths.images,
                config.paths.sources,
                config.image.debian_mirror,
                progress=progress,
            )
            steps.append(_step("debian image", built, started))
            for name in names:
                if name != "host" and vm_profile(config, name).image == "cloud":
                    started = time.monotonic()
                    fresh = not prepared_disk(config, name).is_file()
                    if fresh:
                        prepare_cloud(config, name, debian.disk, "20G")
                    steps.append(_step(f"{name}'s disk", fresh, started))
        return steps

    def start_blockers(self) -> dict[str, str]:
        """Configured VMs that are stopped and cannot start here, with the reason: a kind
        this host cannot run, a missing image or disk, more memory than the host has."""
        import psutil

        from sevtui.vm import lifecycle

        report = self.capabilities()
        blocked: dict[str, str] = {}
        for name, profile in self.config.vm.items():
            if lifecycle.status(self.config, name).state == "running":
                continue
            verdict = report.profiles[profile.kind]
            try:
                if not verdict.launchable:
                    blocked[name] = f"{profile.kind}: {verdict.reason}"
                    continue
                lifecycle.check_media(self.config, name, report)
            except SevtuiError as exc:
                blocked[name] = exc.message
                continue
            if profile.memory > psutil.virtual_memory().total:
                blocked[name] = f"wants {format_size(profile.memory)}, the host has less"
        return blocked

    def plan_notes(self, plan: RunPlan) -> PlanNotes:
        """What PLAN will do, for both front ends to say before it starts."""
        from sevtui.bench.catalog import BOOT
        from sevtui.bench.targets import HOST
        from sevtui.bench.variants import with_variants
        from sevtui.vm import lifecycle

        suite = self.catalog.suite(plan.suite)
        config = with_variants(self.config, plan.targets)
        per_launch = "a pilot of " if plan.precision_pct else ""
        lines = [
            f"{plan.label!r}: {len(suite)} benchmarks of suite {plan.suite} on "
            f"{', '.join(plan.targets)}; {plan.launches} launch(es) x {per_launch}"
            f"{plan.repetitions} repetitions, {plan.warmup} warm-up, {plan.order} order"
            + (f" (seed {plan.seed})" if plan.order == "random" else ""),
            f"planned: {len(suite) * len(plan.targets) * plan.launches * plan.repetitions} "
            "repetitions; a benchmark a target cannot run is recorded as unavailable and "
            "taken off the plan",
        ]
        with self.store() as store:
            lines.append(_estimate(store, plan, suite))
        running = [
            name
            for name in plan.targets
            if name != HOST and lifecycle.status(config, name).state == "running"
        ]
        why = (
            "each of the run's launches boots it anew"
            if plan.launches > 1
            else "the boot benchmark restarts it cold"
            if any(bench.parser == BOOT for bench in suite)
            else ""
        )
        restarts = tuple(running) if why else ()
        for name in restarts:
            lines.append(
                f"{name} is running now and will be restarted ({why}): what it holds is lost "
                "and its probe verdict no longer applies"
            )
        return PlanNotes(tuple(lines), restarts)

    def plan_sweep(self, vms: list[str], vary: list[str], base: RunPlan) -> RunPlan:
        """BASE (suite, repetitions, label...) over every variant of VMS (combinations of
        the --vary values)."""
        from sevtui.bench.variants import expand, parse_vary, with_variants
        from sevtui.vm import lifecycle
        from sevtui.vm.resolve import vm_profile

        for name in vms:
            vm_profile(self.config, name)
        names = [variant.name for variant in expand(vms, parse_vary(vary))]
        for name in vms:
            if lifecycle.status(self.config, name).state != "running":
                try:
                    lifecycle.check_media(self.config, name, self.capabilities())
                except SevtuiError as exc:
                    raise UsageError(f"cannot sweep {name}: {exc.message}", exc.hint) from None
        with_variants(self.config, names)
        return replace(base, targets=names)

    def resume_plan(self, ref: str) -> RunPlan:
        """The plan of one stored run, to measure only what it is missing."""
        from sevtui.bench.runner import plan_from_run

        with self.store() as store:
            store.mark_orphans()
            run_ids = store.resolve(ref)
            if len(run_ids) != 1:
                raise UsageError(f"{ref!r} names {len(run_ids)} runs", "resume one run id")
            return plan_from_run(store, run_ids[0], self.config)

    def run(
        self, plan: RunPlan, emit: Callable[[Event], None], stop: threading.Event | None = None
    ) -> RunOutcome:
        """Run PLAN (blocking); STOP or Ctrl-C interrupts it, keeping what was measured."""
        from sevtui.bench.runner import Control, run_suite

        with self.store() as store:
            return run_suite(
                self.config, store, self.catalog, plan, self.capabilities(), Control(emit, stop)
            )

    # --- results ------------------------------------------------------------------------

    @contextmanager
    def store(self) -> Iterator[Store]:
        """The results database, opened in the calling thread and closed after use."""
        from sevtui.store.db import Store

        store = Store(self.config.paths.db)
        try:
            yield store
        finally:
            store.close()

    def runs(self) -> list[RunInfo]:
        """Stored runs, newest first (runs whose process died are marked interrupted)."""
        with self.store() as store:
            store.mark_orphans()
            return store.runs()

    def report(self, ref: str) -> RunReport:
        """The runs REF names (an id, or every run with that label), with statistics."""
        from sevtui.bench.results import summaries

        with self.store() as store:
            run_ids = store.resolve(ref)
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

    def run_details(self, run_id: int) -> list[str]:
        """One run's details as text lines (the app's run details, `show --details`)."""
        return self.report(str(run_id)).detail_lines()

    def repetition_output(self, run_id: int, target: str, benchmark: str, rep: int) -> str:
        """What one repetition printed, as stored."""
        with self.store() as store:
            store.run(run_id)
            return store.output(run_id, target, benchmark, rep)

    def resolve(self, ref: str) -> list[int]:
        """Run ids for REF: an id, or every run with that label."""
        with self.store() as store:
            return store.resolve(ref)

    def profiles(self, run_ids: list[int]) -> list[str]:
        """Profiles measured in these runs."""
        from sevtui.bench.results import profiles

        with self.store() as store:
            return profiles(store.series(run_ids))

    def hosts(self, run_ids: list[int]) -> dict[str, list[int]]:
        """These runs grouped by the host that measured them (provenance `host`)."""
        grouped: dict[str, list[int]] = {}
        with self.store() as store:
            for run_id in run_ids:
                host = str(store.run(run_id).provenance.get("host") or "unknown")
                grouped.setdefault(host, []).append(run_id)
        return grouped

    def fleet(
        self, request: FleetRequest, wheel: Path | None, progress: Callable[[HostProgress], None]
    ) -> list[HostOutcome]:
        """Run the fleet playbook (caps or run) on every host of the request's inventory."""
        from sevtui.base.names import check_label
        from sevtui.fleet.run import FleetStatus, run_playbook, sevtui_wheel

        if request.phase == "run":
            check_label(request.label)
        folder = self.config.paths.data_dir / "fleet"
        status = FleetStatus(folder, request.phase)
        built = sevtui_wheel(folder / "wheels", wheel)
        fetched = folder / (request.label if request.phase == "run" else "caps")

        def step(line: HostProgress) -> None:
            status.step(line)
            progress(line)

        outcomes = run_playbook(request, built, fetched, step)
        status.finish(outcomes)
        return outcomes

    def fleet_hosts(self) -> list[dict[str, str]]:
        """The hosts of the last (or running) fleet command: capability row and progress."""
        from sevtui.fleet.run import read_status

        return read_status(self.config.paths.data_dir / "fleet")

    def merge(self, paths: list[Path]) -> list[MergedFile]:
        """Copy the runs of other sevtui databases into this one (all or nothing)."""
        from sevtui.store.merge import merge

        with self.store() as store:
            return merge(store, paths)

    def comparisons(self, run_ids: list[int], base: str, others: list[str]) -> ComparisonSet:
        """BASE compared with each of OTHERS over these runs."""
        from sevtui.bench.facts import run_facts
        from sevtui.bench.results import build_comparisons
        from sevtui.bench.stats import prefetch_distributions

        prefetch_distributions()
        with self.store() as store:
            return build_comparisons(
                store.series(run_ids),
                base,
                others,
                self.config.bench.cv_threshold_pct,
                self.catalog.headlines(),
                _one_mode(run_facts(store, run_ids), run_ids),
            )

    def comparisons_by_host(
        self, run_ids: list[int], base: str, others: list[str]
    ) -> dict[str, ComparisonSet]:
        """BASE against OTHERS on each host's runs (runs merged from several hosts)."""
        return {
            host: self.comparisons(ids, base, others)
            for host, ids in sorted(self.hosts(run_ids).items())
        }

    def compare_along(
        self, run_ids: list[int], base: str, other: str, parameter: str
    ) -> list[AlongPoint]:
        """A sweep's overhead of OTHER over BASE at each value of PARAMETER."""
        from sevtui.bench.along import AlongQuery, compare_along
        from sevtui.bench.facts import run_facts
        from sevtui.bench.stats import prefetch_distributions

        prefetch_distributions()
        with self.store() as store:
            return compare_along(
                store.series(run_ids),
                AlongQuery(base, other, parameter),
                self.config.bench.cv_threshold_pct,
                self.catalog.headlines(),
                _one_mode(run_facts(store, run_ids), run_ids),
            )

    def plot(self, run_ids: list[int], base: str, others: list[str], request: PlotRequest) -> Path:
        """Draw the figure REQUEST asks for from these runs; the path it was written to."""
        from sevtui.report import figures

        request.check(others)
        if request.kind == "along":
            points = self.compare_along(run_ids, base, others[0], request.along)
            return figures.draw_along(points, request.along, request.path, request.width_in)
        if request.kind == "repetitions" and request.metric is not None:
            benchmark, metric = request.metric
            measured = self.metric_values(run_ids, benchmark, metric)
            values = {p: measured[p] for p in (base, *others) if p in measured}
            unit = self.metric_unit(run_ids, benchmark, metric)
            what = (benchmark, metric, unit)
            return figures.draw_repetitions(values, what, request.path, request.width_in)
        if request.kind == "by-host":
            per_host = self.comparisons_by_host(run_ids, base, others)
            series = [figures.BarSeries(host, set_.tables[0]) for host, set_ in per_host.items()]
        else:
            tables = self.comparisons(run_ids, base, others).tables
            series = [figures.BarSeries(table.other, table) for table in tables]
        return figures.draw_overhead(series, request.path, request.width_in)

    def write_report(
        self, run_ids: list[int], base: str, others: list[str], folder: Path, replace: bool = False
    ) -> list[Path]:
        """The report of these runs (BASE against each of OTHERS) written under FOLDER."""
        from sevtui.report import document
        from sevtui.report.folder import write_report
        from sevtui.report.system import system_table

        comparisons = self.comparisons(run_ids, base, others)
        with self.store() as store:
            runs = [store.run(run_id) for run_id in run_ids]
            probes = _probe_lines(store, run_ids, [base, *others])
        labels = ", ".join(dict.fromkeys(run.label for run in runs))
        report = document.Report(
            f"sevtui report: {labels}: {', '.join(others)} relative to {base}",
            runs,
            system_table(runs, [base, *others]),
            document.methodology(runs, comparisons),
            comparisons,
            probes,
        )
        return write_report(report, folder, replace)

    def metric_unit(self, run_ids: list[int], benchmark: str, metric: str) -> str:
        """The unit METRIC of BENCHMARK was stored in (empty when it was not measured)."""
        with self.store() as store:
            return next(
                (
                    s.unit
                    for s in store.series(run_ids)
                    if s.benchmark == benchmark and s.metric == metric
                ),
                "",
            )

    def metric_values(
        self, run_ids: list[int], benchmark: str, metric: str
    ) -> dict[str, list[float]]:
        """Every repetition's value of one metric, per profile (for the repetitions chart)."""
        with self.store() as store:
            values: dict[str, list[float]] = {}
            for series in store.series(run_ids):
                if series.benchmark == benchmark and series.metric == metric:
                    values.setdefault(series.target, []).extend(series.values.values())
            return values

    def import_files(self, request: ImportRequest) -> dict[str, tuple[int, int]]:
        """Parse every file, then store one run per profile: profile -> (run id, values)."""
        from sevtui.bench.importer import import_files

        with self.store() as store:
            runs = import_files(store, request, self.catalog)
            return {name: (run_id, len(store.samples([run_id]))) for name, run_id in runs.items()}
