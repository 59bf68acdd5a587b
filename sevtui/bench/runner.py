"""Run a suite on several targets, interleaved, storing each value the moment it exists.

Progress is a stream of typed events (dataclasses) handed to `emit`: the CLI prints
them, the TUI turns them into messages. Every benchmark runs in its own process group
under an in-target watchdog (SIGTERM, then SIGKILL at its timeout), so a hung one dies
and the target's shell answers again. The design is the plan's: launches (each target
opened anew), a seeded random order per round, a fixed number of repetitions per launch
(or, adaptive, a pilot that fixes the rest once). A run ends done, failed or
interrupted, with the reason stored.
"""

from __future__ import annotations

import contextlib
import random
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sevtui.attest import vms as attest_vms
from sevtui.base.errors import CommandTimeout, SevtuiError, UsageError
from sevtui.base.proc import process_started
from sevtui.bench import boot, conditions, guestword, provenance, scripts, variants
from sevtui.bench.catalog import BOOT, Benchmark, Catalog
from sevtui.bench.events import (
    BenchmarkError,
    BenchmarkStarted,
    BenchmarkUnavailable,
    Event,
    RepetitionDone,
    RunFinished,
    RunPlan,
    RunStarted,
)
from sevtui.bench.pace import Pace
from sevtui.bench.parsers import ParseError, parse_output
from sevtui.bench.stats import two_stage_n
from sevtui.bench.targets import HOST, GuestTarget, HostTarget, Target, wrap
from sevtui.config import Config
from sevtui.host.caps import CapabilityReport
from sevtui.host.sysctl import NUMA_BALANCING, HostSetting, SettingUnavailable
from sevtui.image.sources import Source, fetch
from sevtui.store.db import Store
from sevtui.store.rows import RepetitionRecord
from sevtui.vm import lease, lifecycle, remote
from sevtui.vm.ref import VmRef, lookup

MIN_DERIVED_TIMEOUT_S = 60.0
DERIVED_TIMEOUT_FACTOR = 5.0
HOST_SIDE_MARGIN_S = 30.0
"""How much longer sevtui waits than the in-target watchdog before it gives up itself."""
MAX_REASONS = 3

Emit = Callable[[Event], None]
OpenTarget = Callable[[str], Target]
_Step = Callable[[Benchmark, Target, int], bool]


class Interrupted(SevtuiError):
    """The run was asked to stop; what was measured is kept."""


class TargetUnavailable(SevtuiError):
    """A target this host cannot run (a sweep's variant of a kind that cannot launch)."""


class TargetDied(SevtuiError):
    """A target stopped answering (guest powered off, QEMU killed, console gone)."""


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended: done, failed or interrupted, and why when not done."""

    run_id: int
    status: str
    reason: str
    measured: int

    @property
    def exit_code(self) -> int:
        """The CLI's exit status: 0 done, 1 failed, 130 interrupted."""
        return {"done": 0, "interrupted": 130}.get(self.status, 1)


def plan_from_run(store: Store, run_id: int, config: Config) -> RunPlan:
    """The plan of a stored run, for `bench resume`: its own design (launches, order,
    seed, stopping), so the numbering of its repetitions carries on."""
    run = store.run(run_id)
    if run.status == "imported" or not run.suite or not run.repetitions:
        raise UsageError(f"run {run_id} was imported, not measured: nothing to resume")
    stored = run.provenance.get("design")
    design: dict[str, Any] = stored if isinstance(stored, dict) else {}
    kept = design.get("stopping")
    stopping: dict[str, Any] = kept if isinstance(kept, dict) else {}
    precision = stopping.get("precision_pct") if stopping.get("mode") == "precision" else None
    cap = int(stopping.get("cap", config.bench.max_repetitions))
    return RunPlan(
        targets=list(run.targets),
        suite=run.suite,
        repetitions=run.repetitions,
        label=run.label,
        warmup=int(design.get("warmup", config.bench.warmup)),
        max_repetitions=max(cap, run.repetitions),
        cv_threshold_pct=config.bench.cv_threshold_pct,
        timeout_s=config.bench.timeout_s,
        resume_run=run_id,
        concurrent=run.provenance.get("mode") == "concurrent",
        launches=int(design.get("launches", 1)),
        order=str(design.get("order", "fixed")),
        seed=design.get("seed") if isinstance(design.get("seed"), int) else None,
        precision_pct=float(precision) if precision is not None else None,
    )


@dataclass(frozen=True)
class Control:
    """Where a run reports its progress, and the flag that asks it to stop."""

    emit: Emit
    stop: threading.Event | None = None


def run_suite(
    config: Config,
    store: Store,
    catalog: Catalog,
    plan: RunPlan,
    report: CapabilityReport,
    control: Control,
) -> RunOutcome:
    """Run PLAN on live targets (starting VMs as needed); Ctrl-C or control.stop interrupts it."""
    suite = catalog.suite(plan.suite)
    config = variants.with_variants(config, plan.targets)
    vms = {name: lookup(config, name) for name in plan.targets if name != HOST}
    if plan.resume_run is None:
        run_id = store.create_run(
            plan.label,
            "running",
            plan.suite,
            plan.repetitions,
            plan.targets,
            {
                **provenance.host_provenance(config, report),
                "mode": provenance.run_mode(plan.concurrent),
                "design": plan.design(),
                "sources": {b.id: b.source.to_json() for b in suite if b.source is not None},
            },
        )
    else:
        run_id = plan.resume_run
        store.reopen_run(run_id)
    run = SuiteRun(store, run_id, plan, suite, control.emit, control.stop, config.paths.sources)
    fresh = plan.launches > 1
    running = [vm for vm in vms.values() if lifecycle.status(vm).state == "running"]
    balancing = HostSetting(NUMA_BALANCING)
    opening = _Opening(run_id, plan.label, fresh, balancing)
    try:
        return run.execute(lambda name: open_live_target(config, report, vms.get(name), opening))
    finally:
        balancing.restore()
        if fresh:
            _restart(config, report, running)


def _restart(config: Config, report: CapabilityReport, vms: list[VmRef]) -> None:
    """VMs that ran before a run of several launches run again after it (fresh)."""
    for vm in vms:
        if lifecycle.status(vm).state != "running":
            with contextlib.suppress(SevtuiError):
                lifecycle.start(config, vm, report)


@dataclass(frozen=True)
class _Opening:
    """What every target a run opens shares: the run (id, label) that leases it, whether
    each launch boots VMs anew, and the host's NUMA balancing the run may change."""

    run_id: int
    label: str
    fresh: bool
    balancing: HostSetting


def open_live_target(
    config: Config, report: CapabilityReport, vm: VmRef | None, opening: _Opening
) -> Target:
    """The host (VM None), or VM (started when it is not running and leased to the run).

    A run of several launches (fresh) boots the VM anew for each launch and stops it
    when the run lets it go; so is a sweep's variant that the run started. A VM with
    numa_balancing set has the host's setting changed before it starts.
    """
    if vm is None:
        return HostTarget(provenance.host_settings())
    kind, fresh = vm.profile.kind, opening.fresh
    variant = variants.parse_name(vm.name) is not None
    if variant and not report.profiles[kind].launchable:
        why = report.profiles[kind].reason
        raise TargetUnavailable(f"this host cannot run {kind} guests: {why}")
    if variant and (blockers := lifecycle.plan(config, vm, report)[0].blockers):
        raise TargetUnavailable("; ".join(blockers))
    _set_balancing(vm, opening.balancing)
    if fresh and lifecycle.status(vm).state == "running":
        lifecycle.stop(vm)
    started = lifecycle.status(vm).state != "running"
    if started:
        lifecycle.start(config, vm, report)
    current = lifecycle.status(vm)
    record = lifecycle.vm_record(vm.paths)
    pids = {pid for pid in (current.pid, record.supervisor_pid) if pid is not None}
    lease.take(vm.paths.root, opening.run_id, opening.label)
    info = provenance.guest_info(vm)
    with contextlib.suppress(SevtuiError):
        descriptor = lifecycle.plan(config, vm, report)[0].firmware.descriptor
        if descriptor is not None and isinstance(info.get("firmware_file"), dict):
            info["firmware_file"]["descriptor"] = str(descriptor)
    if config.bench.attest:
        info["attestation"] = attest_vms.for_run(config, vm)

    def let_go() -> None:
        lease.release(vm.paths.root)
        if started and (variant or fresh):
            with contextlib.suppress(SevtuiError):
                lifecycle.stop(vm)

    target = GuestTarget(vm.name, remote.runner(vm), pids, info, on_close=let_go)
    if current.pid is not None:
        target.qemu = (current.pid, process_started(current.pid) or 0.0)
    target.relaunch = lambda: boot.relaunch(config, report, vm, target)
    target.upload = remote.uploader(vm)
    return target


def _set_balancing(vm: VmRef, balancing: HostSetting) -> None:
    """The host's kernel.numa_balancing as VM asks (unavailable with the reason when it
    cannot be set here)."""
    wanted = vm.profile.numa_balancing
    if wanted is None:
        return
    try:
        balancing.set(str(wanted))
    except SettingUnavailable as exc:
        raise TargetUnavailable(exc.message) from None


@dataclass(frozen=True)
class _Pending:
    """A repetition about to run on one target: its nonce, timeout and script."""

    target: Target
    repetition: int
    nonce: str
    limit: float
    script: str
    runner: Target | None = None
    """Where the script runs when not in the target (the host, for a host-side client)."""

    def run(self) -> tuple[Any, float]:
        """Run the script (safe in a worker thread: it touches only this target)."""
        started = time.monotonic()
        where = self.runner or self.target
        outcome = _run(where, self.script, self.limit + HOST_SIDE_MARGIN_S)
        return outcome, time.monotonic() - started


@dataclass(frozen=True)
class _Ran:
    """What a repetition produced and the host's conditions while it ran."""

    outcome: Any
    seconds: float
    host: dict[str, Any]
    busy: bool


@dataclass
class SuiteRun:
    """One run's context: the store, the plan, the suite, progress and the stop flag."""

    store: Store
    run_id: int
    plan: RunPlan
    suite: list[Benchmark]
    emit: Emit
    stop: threading.Event | None = None
    sources_cache: Path = field(default_factory=lambda: Config().paths.sources)
    planned: int = 0
    measured: int = 0
    problems: list[str] = field(default_factory=list)
    done: dict[tuple[str, str], set[int]] = field(default_factory=dict)
    launch: int = 1
    """The launch being measured (1-based)."""
    positions: dict[str, int] = field(default_factory=dict)
    """Each target's place in the current round's order."""
    decided: dict[tuple[str, str, int], int] = field(default_factory=dict)
    """Adaptive mode: (target, benchmark, launch) -> repetitions after the pilot."""
    qemu: dict[str, tuple[int, float]] = field(default_factory=dict)
    """The QEMU process (PID, start time) of each VM target in the current launch."""
    alone: set[tuple[str, str]] = field(default_factory=set)
    """(target, benchmark) that only this target can run: measured once."""
    pace: Pace = field(default_factory=lambda: Pace({}, set()))
    """Seconds a repetition of (target, benchmark) takes; the ETA adds them up."""
    warmed: set[tuple[str, str, int]] = field(default_factory=set)
    """(target, benchmark, launch) whose warm-ups are behind it."""
    host_side_runner: HostTarget | None = None
    """The host, where host-side clients run (made on first use)."""

    def execute(self, open_target: OpenTarget) -> RunOutcome:
        """Open every target, run every benchmark, and always finish the run row."""
        started = time.monotonic()
        self._load_previous()
        self.emit(
            RunStarted(
                self.run_id,
                self.plan.label,
                tuple(self.plan.targets),
                tuple(b.id for b in self.suite),
                self.planned,
                self.plan.concurrent,
            )
        )
        status, reason = "failed", "the run ended unexpectedly"
        order = random.Random(self.plan.seed)
        try:
            for launch in range(1, self.plan.launches + 1):
                self.launch = launch
                for group in variants.groups(self.plan.targets):
                    wanted = [name for name in group if self._has_work(name)]
                    if not wanted:
                        continue
                    with ExitStack() as stack:
                        targets = self._open_all(open_target, stack, wanted)
                        self._screen(targets)
                        for bench in self.suite:
                            self._run_benchmark(bench, targets, order)
            status = "failed" if self.problems else "done"
            reason = _join_problems(self.problems)
        except (KeyboardInterrupt, Interrupted) as exc:
            status = "interrupted"
            reason = "stopped on request" if isinstance(exc, Interrupted) else str(exc) or "Ctrl-C"
        except SevtuiError as exc:
            reason = _join_problems([*self.problems, _words(exc)])
            self.emit(BenchmarkError("-", "-", 0, "failed", exc.message))
        except Exception as exc:
            reason = f"internal error: {type(exc).__name__}: {exc}"
            raise
        finally:
            if self.host_side_runner is not None:
                self.host_side_runner.close()
            self.store.finish_run(self.run_id, status, reason)
            self.emit(
                RunFinished(self.run_id, status, time.monotonic() - started, self.measured, reason)
            )
        return RunOutcome(self.run_id, status, reason, self.measured)

    def _load_previous(self) -> None:
        """What earlier attempts of this run measured (resume), and what is left to do."""
        self.done = self.store.done_repetitions(self.run_id)
        self.pace = Pace(
            {bench.id: bench.typical_s for bench in self.suite},
            {bench.id for bench in self.suite if bench.parser == BOOT},
        )
        for target in self.plan.targets:
            for bench in self.suite:
                seconds = self.store.last_seconds(target, bench.id)
                if seconds is not None:
                    self.pace.remember((target, bench.id), seconds)
        self.planned = sum(
            self._missing(t, b, launch)
            for launch in range(1, self.plan.launches + 1)
            for t in self.plan.targets
            for b in self.suite
        )

    def _stride(self) -> int:
        """Repetition numbers one launch may use: launch L numbers from (L-1)*stride+1."""
        return self.plan.max_repetitions if self.plan.precision_pct else self.plan.repetitions

    def _wanted(self, target: str, bench: Benchmark, launch: int) -> list[int]:
        """The repetition numbers LAUNCH measures of BENCH on TARGET: the planned ones, or
        (adaptive) the pilot and, once the pilot is done, the number it called for."""
        first = (launch - 1) * self._stride() + 1
        if (target, bench.id) in self.alone:
            return [1] if launch == 1 else []
        count = self.plan.repetitions
        if self.plan.precision_pct is not None:
            count += self._decision(target, bench, launch, first)
        return list(range(first, first + count))

    def _decision(self, target: str, bench: Benchmark, launch: int, first: int) -> int:
        """Adaptive mode: how many repetitions follow the pilot (0 until it is done)."""
        key = (target, bench.id, launch)
        if key in self.decided:
            return self.decided[key]
        pilot = list(range(first, first + self.plan.repetitions))
        finished = self.done.get((target, bench.id), set())
        if not set(pilot) <= finished:
            return 0
        values = self.store.repetition_values(self.run_id, target, bench.id, pilot)
        headline = [
            v for m, v in values.items() if not bench.headline or re.search(bench.headline, m)
        ]
        cap = self.plan.max_repetitions - self.plan.repetitions
        more = two_stage_n(headline, self.plan.precision_pct or 0.0, cap)
        self.decided[key] = more
        return more

    def _missing(self, target: str, bench: Benchmark, launch: int) -> int:
        """Wanted repetitions of LAUNCH not measured yet (0 once BENCH was closed out)."""
        finished = self.done.get((target, bench.id), set())
        if 0 in finished:
            return 0
        return sum(rep not in finished for rep in self._wanted(target, bench, launch))

    def left_s(self) -> float | None:
        """Seconds left: every missing repetition, and the warm-ups still ahead of them,
        at its benchmark's pace on its target; None while no pace is known."""
        total = 0.0
        for launch in range(self.launch, self.plan.launches + 1):
            for target in self.plan.targets:
                for bench in self.suite:
                    count = self._missing(target, bench, launch)
                    if not count:
                        continue
                    if (target, bench.id, launch) not in self.warmed:
                        count += self._warmups(bench)
                    seconds = self.pace.of((target, bench.id))
                    if seconds is None:
                        return None
                    total += count * seconds
        return total

    def _has_work(self, target: str) -> bool:
        """True when TARGET has something to measure in the current launch."""
        return any(self._missing(target, bench, self.launch) for bench in self.suite)

    def _open_all(
        self, open_target: OpenTarget, stack: ExitStack, names: list[str]
    ) -> list[Target]:
        targets: list[Target] = []
        for name in names:
            self._check_stop()
            try:
                target = open_target(name)
            except TargetUnavailable as exc:
                self._unavailable_target(name, exc.message)
                continue
            except SevtuiError as exc:
                self._fail_target(name, f"could not be opened: {_words(exc)}")
                continue
            stack.callback(target.close)
            process = getattr(target, "qemu", None)
            if process is not None:
                self.qemu[name] = process
            try:
                target.info = _describe(target)
                self.store.set_target(self.run_id, name, target.kind, target.info)
                attestation = target.info.get("attestation")
                if isinstance(attestation, dict):
                    self.store.record_attestation(attest_vms.as_row(attestation, self.run_id))
            except TargetDied as exc:
                self._fail_target(name, f"stopped answering: {_words(exc)}")
                continue
            targets.append(target)
        return targets

    def _fail_target(self, name: str, why: str) -> None:
        """Record every benchmark still to do on NAME as failed, with WHY."""
        message = f"target {name} {why}"
        self.problems.append(message)
        self._close_out(name, "failed", message)

    def _unavailable_target(self, name: str, why: str) -> None:
        """Record every benchmark still to do on NAME as unavailable (not a failure)."""
        self._close_out(name, "unavailable", why)

    def _close_out(self, name: str, status: str, message: str) -> None:
        """Record STATUS for every benchmark still to do on NAME; nothing more is planned."""
        for bench in self.suite:
            if self._pending(name, bench):
                self._record(
                    RepetitionRecord(name, bench.id, bench.category, 0, status, message=message)
                )
                self.planned -= self._remaining(name, bench)
        self.emit(BenchmarkError(name, "-", 0, status, message))

    def _pending(self, target: str, bench: Benchmark) -> bool:
        """True while this benchmark still has repetitions to measure on TARGET."""
        return self._missing(target, bench, self.launch) > 0

    def _remaining(self, target: str, bench: Benchmark) -> int:
        """Planned repetitions of BENCH on TARGET not measured yet, this launch and later."""
        return sum(
            self._missing(target, bench, launch)
            for launch in range(self.launch, self.plan.launches + 1)
        )

    def _run_benchmark(self, bench: Benchmark, targets: list[Target], order: random.Random) -> None:
        ready = [
            t
            for t in targets
            if t.alive
            and self._pending(t.name, bench)
            and self._guarded(t, bench, self._prepare, 0)
        ]
        self._alone_check(bench, targets, ready)
        for target in ready:
            for _ in range(self._warmups(bench)):
                self._check_stop()
                self.emit(
                    BenchmarkStarted(
                        target.name,
                        bench.id,
                        0,
                        warmup=True,
                        planned=self.planned,
                        left_s=self.left_s(),
                    )
                )
                self._guarded(target, bench, self._warm_up, 0)
            self.warmed.add((target.name, bench.id, self.launch))
        ready = [t for t in ready if t.alive]
        index = 0
        while ready:
            wanted = {t: self._wanted(t.name, bench, self.launch) for t in ready}
            before = sum(len(w) for w in wanted.values())
            todo = [
                t
                for t in ready
                if index < len(wanted[t])
                and wanted[t][index] not in self.done.get((t.name, bench.id), set())
            ]
            if index >= max(len(w) for w in wanted.values()):
                break
            repetition = (self.launch - 1) * self._stride() + index + 1
            for target, ok in self._round(bench, todo, repetition, order).items():
                if not target.alive or (not ok and index == 0 and len(wanted[target]) > 1):
                    ready.remove(target)
                    self.planned -= (
                        self._missing(target.name, bench, self.launch) - 1 if target.alive else 0
                    )
            index += 1
            grown = sum(len(self._wanted(t.name, bench, self.launch)) for t in wanted)
            self.planned += grown - before

    def _screen(self, targets: list[Target]) -> None:
        """Before any benchmark runs, record what each target cannot run (and what only
        one target can), so the plan and its time left are true from the start."""
        for target in targets:
            try:
                self._screen_one(target)
            except TargetDied as exc:
                target.alive = False
                self._fail_target(target.name, f"stopped answering: {_words(exc)}")
        for bench in self.suite:
            ready = [t for t in targets if t.alive and self._pending(t.name, bench)]
            self._alone_check(bench, targets, ready)

    def _screen_one(self, target: Target) -> None:
        """Record each pending benchmark TARGET cannot run, with the reason."""
        pending = [bench for bench in self.suite if self._pending(target.name, bench)]
        needs = sorted({need for bench in pending for need in bench.needs})
        missing: set[str] = set()
        if needs:
            probe = " ".join(f"command -v {need} >/dev/null 2>&1 || echo {need};" for need in needs)
            missing = set(_run(target, probe, 60).output.split())
        for bench in pending:
            reason = self._unfit(bench, target, [n for n in bench.needs if n in missing])
            if reason:
                self._unavailable(bench, target, reason)

    def _unfit(self, bench: Benchmark, target: Target, missing: list[str]) -> str:
        """Why TARGET cannot run BENCH (empty: it can)."""
        if bench.parser == BOOT and target.relaunch is None:
            return f"boot time needs a VM sevtui starts, not {target.name}"
        if bench.vm_only and target.kind != "vm":
            return bench.vm_only
        if bench.host_side:
            if _net_endpoint(target) is None:
                return (
                    f"the host cannot reach {target.name}'s {bench.host_side} server: sevtui "
                    'forwards a port with network = "user", and on tap or bridge networking '
                    "it needs the guest's address (vm.NAME.guest_address)"
                )
            if shutil.which(bench.host_side) is None:
                return f"{bench.host_side} is not installed on this host (the client side)"
        if bench.needs_disk and target.info.get("work_media") == "ram":
            fstype = target.info.get("work_fs", "RAM")
            return (
                f"{target.name} has no disk: its work folder {target.work_dir} is on {fstype} "
                "(RAM), and this benchmark measures disk I/O"
            )
        if missing:
            return f"missing in {target.name}: {', '.join(missing)}"
        return ""

    def _alone_check(self, bench: Benchmark, targets: list[Target], ready: list[Target]) -> None:
        """A benchmark only one target can run, where every other one records it as
        unavailable, can never be compared: it is measured once there, not repeated."""
        if len(ready) != 1 or len(targets) < 2 or len(self.plan.targets) < 2:
            return
        if (ready[0].name, bench.id) in self.alone:
            return
        others = [t.name for t in targets if t is not ready[0]]
        unavailable = self.store.unavailable(self.run_id, bench.id)
        if not set(others) <= unavailable:
            return
        name = ready[0].name
        before = self._remaining(name, bench)
        self.alone.add((name, bench.id))
        self.planned -= before - self._remaining(name, bench)
        self.emit(
            BenchmarkUnavailable(
                ", ".join(others),
                bench.id,
                f"unavailable there, so it is measured once on {name} only (nothing to "
                "compare it with)",
            )
        )

    def _warmups(self, bench: Benchmark) -> int:
        """Unrecorded runs before a launch's repetitions: the benchmark's own count, else
        the plan's; none for boot time, which measures cold boots."""
        if bench.parser == BOOT:
            return 0
        return self.plan.warmup if bench.warmup is None else bench.warmup

    def _guarded(self, target: Target, bench: Benchmark, step: _Step, repetition: int) -> bool:
        """Run one STEP; a target that stops answering gets its remaining work failed."""
        try:
            return step(bench, target, repetition)
        except TargetDied as exc:
            target.alive = False
            self._fail_target(target.name, f"stopped answering during {bench.id}: {_words(exc)}")
            return False

    def _check_stop(self) -> None:
        if self.stop is not None and self.stop.is_set():
            raise Interrupted("stopped on request")

    def _record(self, outcome: RepetitionRecord) -> None:
        """Store OUTCOME stamped with its launch, place in the round's order, QEMU process
        and (adaptive) whether it was a pilot run."""
        pilot = (
            self.plan.precision_pct is not None
            and outcome.repetition > 0
            and (outcome.repetition - 1) % self._stride() < self.plan.repetitions
        )
        stamped = replace(
            outcome,
            launch=self.launch,
            position=self.positions.get(outcome.target) if outcome.repetition else None,
            qemu=self.qemu.get(outcome.target),
            pilot=pilot,
        )
        self.store.record(self.run_id, stamped)
        if outcome.status in ("ok", "unavailable"):
            self.done.setdefault((outcome.target, outcome.benchmark), set()).add(outcome.repetition)

    def _prepare(self, bench: Benchmark, target: Target, _repetition: int) -> bool:
        """Deliver the benchmark's source and run its setup (what the target lacks was
        screened out when it opened); record why not when the setup fails."""
        if bench.source is not None and not self._deliver(bench, bench.source, target):
            return False
        if not bench.setup:
            return True
        nonce = secrets.token_hex(8)
        # A setup is not the benchmark: the previous run's timing says nothing about it.
        limit = bench.timeout_s or self.plan.timeout_s
        outcome = _run(
            target,
            scripts.set_up(target.work_dir, bench.setup, nonce, limit),
            limit + HOST_SIDE_MARGIN_S,
        )
        if scripts.timed_out(outcome.output, nonce):
            message = f"setup killed after {limit:g} s (SIGTERM, then SIGKILL)"
        elif outcome.status != 0:
            message = f"setup exited with status {outcome.status}"
        else:
            return True
        return self._setup_failed(bench, target, message, outcome.output)

    def _setup_failed(self, bench: Benchmark, target: Target, message: str, output: str) -> bool:
        """Record that BENCH could not be set up on TARGET: nothing of it is measured."""
        self.problems.append(f"{target.name}/{bench.id}: {message}")
        self._record(
            RepetitionRecord(
                target.name, bench.id, bench.category, 0, "failed", output=output, message=message
            )
        )
        self.emit(BenchmarkError(target.name, bench.id, 0, "failed", message))
        self.planned -= self._remaining(target.name, bench)
        return False

    def _deliver(self, bench: Benchmark, source: Source, target: Target) -> bool:
        """Put SOURCE's tarball into TARGET's work folder: already there, shipped in the
        image, or fetched into the host cache (checked by sha256) and copied in."""
        answer = _run(target, wrap(target.work_dir, scripts.have_source(source)), 300).output
        if "sevtui-source: have" in answer:
            return True
        if target.upload is None:
            return self._unavailable(
                bench,
                target,
                f"{target.name} has no copy of {source.filename} and sevtui cannot copy "
                "files into it (only over ssh, to cloud guests)",
            )
        try:
            local = fetch(source, self.sources_cache)
            target.upload(local, f"{target.work_dir}/{source.filename}")
        except SevtuiError as exc:
            return self._setup_failed(bench, target, _words(exc), "")
        return True

    def _unavailable(self, bench: Benchmark, target: Target, reason: str) -> bool:
        """Record that BENCH cannot run on TARGET, and why."""
        self._record(
            RepetitionRecord(
                target.name, bench.id, bench.category, 0, "unavailable", message=reason
            )
        )
        self.emit(BenchmarkUnavailable(target.name, bench.id, reason))
        self.planned -= self._remaining(target.name, bench)
        return False

    def _limit(self, bench: Benchmark, target: Target) -> float:
        """Configured timeout, tightened from the previous run's duration as PTS does."""
        limit = bench.timeout_s or self.plan.timeout_s
        previous = self.store.last_seconds(target.name, bench.id)
        if previous is None:
            return limit
        return min(limit, max(MIN_DERIVED_TIMEOUT_S, previous * DERIVED_TIMEOUT_FACTOR))

    def _warm_up(self, bench: Benchmark, target: Target, _repetition: int) -> bool:
        """A warm-up run: executed under the watchdog, not recorded."""
        nonce = secrets.token_hex(8)
        limit = self._limit(bench, target)
        where, measured = self._where(bench, target)
        _run(
            where, scripts.timed(measured, where.work_dir, nonce, limit), limit + HOST_SIDE_MARGIN_S
        )
        return True

    def _where(self, bench: Benchmark, target: Target) -> tuple[Target, Benchmark]:
        """Where BENCH's measured command runs, and the command: in the target, or (a
        host-side client) on the host against the target's forwarded port."""
        if not bench.host_side:
            return target, bench
        if self.host_side_runner is None:
            self.host_side_runner = HostTarget()
        endpoint = _net_endpoint(target)
        assert endpoint is not None, "screened when the target opened"
        host, port = endpoint
        return self.host_side_runner, replace(
            bench, command=f"SEVTUI_NET_HOST={host}; SEVTUI_NET_PORT={port}; {bench.command}"
        )

    def _round(
        self, bench: Benchmark, todo: list[Target], repetition: int, order: random.Random
    ) -> dict[Target, bool]:
        """One repetition on each target: one after another in the round's order (drawn
        from the run's seed, or as given), or (concurrent) all at once."""
        todo = list(todo)
        if self.plan.order == "random":
            order.shuffle(todo)
        self.positions = {target.name: place for place, target in enumerate(todo)}
        if self.plan.concurrent and len(todo) > 1 and bench.parser != BOOT:
            self._check_stop()
            self.positions = dict.fromkeys(self.positions, 0)
            return self._measure_together(bench, todo, repetition)
        done: dict[Target, bool] = {}
        for target in todo:
            self._check_stop()
            done[target] = self._guarded(target, bench, self._measure, repetition)
        return done

    def _start_repetition(self, bench: Benchmark, target: Target, repetition: int) -> _Pending:
        """Announce a repetition and fix its nonce, timeout and script."""
        self.emit(
            BenchmarkStarted(
                target.name, bench.id, repetition, planned=self.planned, left_s=self.left_s()
            )
        )
        nonce = secrets.token_hex(8)
        limit = self._limit(bench, target)
        where, measured = self._where(bench, target)
        script = scripts.timed(measured, where.work_dir, nonce, limit)
        return _Pending(
            target, repetition, nonce, limit, script, where if where is not target else None
        )

    def _measure(self, bench: Benchmark, target: Target, repetition: int) -> bool:
        if bench.parser == BOOT:
            return self._measure_boot(bench, target, repetition)
        pending = self._start_repetition(bench, target, repetition)
        window = conditions.start()
        outcome, seconds = pending.run()
        host, busy = conditions.finish(window, target.pids)
        return self._conclude(bench, pending, _Ran(outcome, seconds, host, busy))

    def _measure_boot(self, bench: Benchmark, target: Target, repetition: int) -> bool:
        """One cold boot: sevtui stops the VM, starts it and times each phase."""
        relaunch = target.relaunch
        if relaunch is None:
            return self._unavailable(bench, target, f"{target.name} cannot be restarted")
        self.emit(
            BenchmarkStarted(
                target.name, bench.id, repetition, planned=self.planned, left_s=self.left_s()
            )
        )
        window = conditions.start()
        try:
            phases = relaunch()
        except SevtuiError as exc:
            raise TargetDied(f"it did not boot again: {_words(exc)}") from None
        process = getattr(target, "qemu", None)
        if process is not None:
            self.qemu[target.name] = process
        host, busy = conditions.finish(window, target.pids)
        values = boot.values(phases)
        self._record(
            RepetitionRecord(
                target.name,
                bench.id,
                bench.category,
                repetition,
                "ok",
                values=values,
                seconds=phases.get("ready"),
                conditions=host,
                busy=busy,
            )
        )
        self.measured += 1
        self._learn(target.name, bench.id, phases.get("ready"))
        metrics = {v.metric: v.value for v in values}
        ready = phases.get("ready", 0.0)
        self.emit(
            RepetitionDone(
                target.name, bench.id, repetition, ready, metrics, self.planned, self.left_s()
            )
        )
        return True

    def _measure_together(
        self, bench: Benchmark, targets: list[Target], repetition: int
    ) -> dict[Target, bool]:
        """Concurrent mode: the repetition runs on every target at the same time; the
        other targets' QEMUs are part of the measurement, not a busy host."""
        pending = [self._start_repetition(bench, target, repetition) for target in targets]
        window = conditions.start()
        with ThreadPoolExecutor(max_workers=len(pending)) as pool:
            futures = [pool.submit(p.run) for p in pending]
        host, busy = conditions.finish(window, set().union(*(t.pids for t in targets)))
        done: dict[Target, bool] = {}
        for item, future in zip(pending, futures, strict=True):
            try:
                outcome, seconds = future.result()
            except TargetDied as exc:
                item.target.alive = False
                why = f"stopped answering during {bench.id}: {_words(exc)}"
                self._fail_target(item.target.name, why)
                done[item.target] = False
                continue
            done[item.target] = self._conclude(bench, item, _Ran(outcome, seconds, host, busy))
        return done

    def _conclude(self, bench: Benchmark, pending: _Pending, ran: _Ran) -> bool:
        """Parse and store what one repetition printed (in the run's own thread)."""
        target, repetition, nonce = pending.target, pending.repetition, pending.nonce
        base = RepetitionRecord(
            target.name,
            bench.id,
            bench.category,
            repetition,
            "ok",
            seconds=ran.seconds,
            output=ran.outcome.output,
            conditions=ran.host,
            busy=ran.busy,
        )
        if scripts.timed_out(ran.outcome.output, nonce):
            message = f"killed after {pending.limit:g} s (SIGTERM, then SIGKILL)"
            return self._failed(base, "timeout", message)
        if ran.outcome.status != 0:
            tail = ran.outcome.output.strip()[-200:]
            return self._failed(base, "failed", f"exited with status {ran.outcome.status}: {tail}")
        try:
            values = parse_output(bench.parser, ran.outcome.output, nonce)
        except ParseError as exc:
            return self._failed(base, "failed", f"output did not parse: {exc.message}")
        self._record(RepetitionRecord(**{**base.__dict__, "values": values}))
        self.measured += 1
        self._learn(target.name, bench.id, ran.seconds)
        self.emit(
            RepetitionDone(
                target.name,
                bench.id,
                repetition,
                ran.seconds,
                {v.metric: v.value for v in values},
                self.planned,
                self.left_s(),
            )
        )
        return True

    def _learn(self, target: str, bench_id: str, seconds: float | None) -> None:
        """Fold one repetition's duration into its benchmark's pace (a running mean)."""
        if seconds is not None:
            self.pace.learn((target, bench_id), seconds)

    def _failed(self, base: RepetitionRecord, status: str, message: str) -> bool:
        self.problems.append(
            f"{base.target}/{base.benchmark} repetition {base.repetition}: {status}: {message}"
        )
        self._record(RepetitionRecord(**{**base.__dict__, "status": status, "message": message}))
        self.emit(BenchmarkError(base.target, base.benchmark, base.repetition, status, message))
        return False


def _run(target: Target, script: str, timeout: float) -> Any:
    """Run SCRIPT; a target that overruns even the host-side limit, or is gone, died."""
    try:
        return target.run(script, timeout)
    except CommandTimeout as exc:
        raise TargetDied(f"no answer within {timeout:g} s, even after the watchdog") from exc
    except SevtuiError as exc:
        if isinstance(exc, TargetDied):
            raise
        raise TargetDied(exc.message, exc.hint) from None


def _net_endpoint(target: Target) -> tuple[str, int] | None:
    """Where the host reaches TARGET's iperf3 server: a port on 127.0.0.1 QEMU forwards,
    or the guest's own address on a tap device (None: it cannot)."""
    nic = target.info.get("nic")
    if not isinstance(nic, dict):
        return None
    host, port = nic.get("iperf3_host"), nic.get("iperf3_port")
    return (host, port) if isinstance(host, str) and isinstance(port, int) else None


def _words(exc: SevtuiError) -> str:
    return f"{exc.message} ({exc.hint})" if exc.hint else exc.message


def _join_problems(problems: list[str]) -> str:
    if len(problems) <= MAX_REASONS:
        return "; ".join(problems)
    return "; ".join(problems[:MAX_REASONS]) + f"; and {len(problems) - MAX_REASONS} more"


def _describe(target: Target) -> dict[str, Any]:
    """What the target is: kernel, clock source and the medium its work folder is on."""
    info = dict(target.info)
    answer = _run(
        target,
        f"mkdir -p {target.work_dir}; uname -r; "
        "cat /sys/devices/system/clocksource/clocksource0/current_clocksource; cat /proc/mounts",
        60,
    ).output.splitlines()
    info["guest_kernel" if target.name != HOST else "kernel"] = answer[0] if answer else "unknown"
    info["clocksource"] = answer[1] if len(answer) > 1 else "unknown"
    fstype = provenance.work_filesystem(target.work_dir, answer[2:])
    info["work_fs"] = fstype
    info["work_media"] = (
        "ram"
        if fstype in provenance.RAM_FILESYSTEMS
        else "unknown"
        if fstype == "unknown"
        else "disk"
    )
    if target.kind == "vm":
        info["guest_word"] = guestword.parse(_run(target, guestword.SCRIPT, 60).output).to_json()
    return info
