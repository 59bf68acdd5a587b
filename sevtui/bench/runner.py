"""Run a suite on several targets, interleaved, storing each value the moment it exists.

Progress is a stream of typed events (dataclasses) handed to `emit`: the CLI
prints them, the TUI turns them into messages. A hung benchmark is killed at its
timeout and recorded; the suite goes on. Repetitions are added while a metric's
coefficient of variation is above the threshold, up to the cap (as PTS does).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sevtui.bench.catalog import Benchmark, Catalog
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
from sevtui.bench.parsers import PARSERS, ParseError, Value
from sevtui.bench.stats import summarize
from sevtui.bench.targets import HOST, GuestTarget, HostTarget, Target, TargetTimeout, wrap
from sevtui.config import Config, dump_config
from sevtui.errors import SevtuiError, UsageError
from sevtui.host.caps import CapabilityReport
from sevtui.host.qemu import probe_qemu
from sevtui.store import Store
from sevtui.vm import lifecycle, remote
from sevtui.vm.resolve import vm_profile

MIN_DERIVED_TIMEOUT_S = 60.0
# Nanosecond clock inside the target: GNU date, else the kernel's /proc/timer_list
# (busybox date has no %N). Both are read inside the target, never across the console.
_CLOCK = (
    "ns() { t=$(date +%s%N); case $t in *N) sed -n 's/^now at \\([0-9]*\\) nsecs$/\\1/p' "
    "/proc/timer_list | head -n 1;; *) echo $t;; esac; };"
)
DERIVED_TIMEOUT_FACTOR = 5.0


Emit = Callable[[Event], None]


@dataclass
class _State:
    planned: int
    measured: int = 0
    values: dict[tuple[str, str], dict[str, list[float]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list))
    )


class Interrupted(SevtuiError):
    """The run was asked to stop; what was measured is kept."""


def plan_from_run(store: Store, run_id: int, config: Config) -> RunPlan:
    """The plan of a stored run, for `bench resume`."""
    run = store.run(run_id)
    if run["status"] == "imported" or not run["suite"]:
        raise UsageError(f"run {run_id} was imported, not measured: nothing to resume")
    return RunPlan(
        targets=list(run["targets"]),
        suite=str(run["suite"]),
        repetitions=int(run["repetitions"]),
        label=str(run["label"]),
        warmup=config.bench.warmup,
        max_repetitions=max(config.bench.max_repetitions, int(run["repetitions"])),
        cv_threshold_pct=config.bench.cv_threshold_pct,
        resume_run=run_id,
    )


def run_suite(
    config: Config,
    store: Store,
    catalog: Catalog,
    plan: RunPlan,
    report: CapabilityReport,
    emit: Emit,
    stop: threading.Event | None = None,
) -> int:
    """Run PLAN; returns the run id. Ctrl-C / STOP marks the run interrupted."""
    suite = catalog.suite(plan.suite)
    for name in plan.targets:
        if name != HOST:
            vm_profile(config, name)
    if plan.resume_run is None:
        run_id = store.create_run(
            plan.label,
            "running",
            plan.suite,
            plan.repetitions,
            plan.targets,
            _provenance(config, report),
        )
    else:
        run_id = plan.resume_run
        store.reopen_run(run_id)
    started = time.monotonic()
    done = store.done_repetitions(run_id)
    planned = sum(
        plan.repetitions - len(done.get((t, b.id), set())) for t in plan.targets for b in suite
    )
    state = _State(planned)
    emit(RunStarted(run_id, plan.label, tuple(plan.targets), tuple(b.id for b in suite), planned))
    targets: list[Target] = []
    try:
        targets = [_open_target(config, name, report, store, run_id) for name in plan.targets]
        for bench in suite:
            _run_benchmark(config, store, run_id, plan, bench, targets, done, state, emit, stop)
        status = "done"
    except (KeyboardInterrupt, Interrupted):
        status = "interrupted"
    except SevtuiError as exc:
        status = "failed"
        emit(BenchmarkError("-", "-", 0, "failed", exc.message))
    finally:
        for target in targets:
            target.close()
    store.finish_run(run_id, status)
    emit(RunFinished(run_id, status, time.monotonic() - started, state.measured))
    if status == "interrupted":
        raise Interrupted(
            f"run {run_id} interrupted; {state.measured} repetitions were stored",
            f"continue it with: sevtui bench resume {run_id}",
        )
    return run_id


def _open_target(
    config: Config, name: str, report: CapabilityReport, store: Store, run_id: int
) -> Target:
    target: Target
    if name == HOST:
        target = HostTarget()
        info: dict[str, Any] = {"kernel": platform.release(), "cpus": os.cpu_count()}
    else:
        status = lifecycle.status(config, name)
        if status.state != "running":
            lifecycle.start(config, name, report)
        target = GuestTarget(name, remote.runner(config, name))
        info = _guest_info(config, name)
    facts = target.run(
        "uname -r; cat /sys/devices/system/clocksource/clocksource0/current_clocksource", 60
    ).output.split()
    info["guest_kernel" if name != HOST else "kernel"] = facts[0] if facts else "unknown"
    info["clocksource"] = facts[1] if len(facts) > 1 else "unknown"
    store.set_target(run_id, name, target.kind, info)
    return target


def _guest_info(config: Config, name: str) -> dict[str, Any]:
    profile = vm_profile(config, name)
    record = lifecycle.vm_record(config, name)
    info: dict[str, Any] = {
        "profile": profile.model_dump(mode="json"),
        "kind": profile.kind,
        "vcpus": profile.vcpus,
        "memory": profile.memory,
        "policy": profile.policy,
        "accel": record.get("accel"),
        "argv": record.get("argv"),
    }
    if profile.firmware is not None and profile.firmware.is_file():
        info["firmware"] = str(profile.firmware)
        info["firmware_sha256"] = hashlib.sha256(profile.firmware.read_bytes()).hexdigest()
    return info


def _provenance(config: Config, report: CapabilityReport) -> dict[str, Any]:
    microcode = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("microcode"):
                microcode = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        qemu = probe_qemu(config.qemu.binary).version_text
    except SevtuiError as exc:
        qemu = exc.message
    return {
        "host": platform.node(),
        "cpu_model": report.model,
        "cpu_vendor": report.vendor,
        "microcode": microcode,
        "host_kernel": platform.release(),
        "qemu": qemu,
        "capabilities": report.to_json(),
        "config": dump_config(config),
    }


def _run_benchmark(
    config: Config,
    store: Store,
    run_id: int,
    plan: RunPlan,
    bench: Benchmark,
    targets: list[Target],
    done: dict[tuple[str, str], set[int]],
    state: _State,
    emit: Emit,
    stop: threading.Event | None,
) -> None:
    ready: list[Target] = []
    for target in targets:
        finished = done.get((target.name, bench.id), set())
        if 0 in finished or len(finished) >= plan.repetitions:
            continue
        if _prepare(config, store, run_id, bench, target, emit):
            ready.append(target)
        else:
            state.planned -= plan.repetitions - len(finished)
    for target in ready:
        for _ in range(plan.warmup):
            _check_stop(stop)
            emit(BenchmarkStarted(target.name, bench.id, 0, warmup=True, planned=state.planned))
            _execute(config, store, bench, target)
    repetition = 1
    while ready:
        for target in list(ready):
            _check_stop(stop)
            if repetition in done.get((target.name, bench.id), set()):
                continue
            ok = _measure(config, store, run_id, bench, target, repetition, state, emit)
            if not ok and repetition == 1 and plan.repetitions > 1:
                ready.remove(target)
                state.planned -= plan.repetitions - 1
        repetition += 1
        if repetition > plan.repetitions and not _needs_more(state, bench, ready, plan, repetition):
            break


def _needs_more(
    state: _State, bench: Benchmark, ready: list[Target], plan: RunPlan, repetition: int
) -> bool:
    """Dynamic run count: another round while some metric is noisy and under the cap."""
    if repetition > plan.max_repetitions:
        return False
    for target in ready:
        for metric, values in state.values[(target.name, bench.id)].items():
            if bench.primary and not re.search(bench.primary, metric):
                continue
            summary = summarize(values) if values else None
            if summary and summary.cv_pct is not None and summary.cv_pct > plan.cv_threshold_pct:
                state.planned += len(ready)
                return True
    return False


def _check_stop(stop: threading.Event | None) -> None:
    if stop is not None and stop.is_set():
        raise Interrupted("stopped on request")


def _prepare(
    config: Config, store: Store, run_id: int, bench: Benchmark, target: Target, emit: Emit
) -> bool:
    """Check the benchmark's needs and run its setup; record why not when it cannot run."""
    if bench.needs:
        probe = " ".join(
            f"command -v {need} >/dev/null 2>&1 || echo {need};" for need in bench.needs
        )
        missing = target.run(probe, 60).output.split()
        if missing:
            reason = f"missing in {target.name}: {', '.join(missing)}"
            store.record(
                run_id, target.name, bench.id, bench.category, 0, "unavailable", [], message=reason
            )
            emit(BenchmarkUnavailable(target.name, bench.id, reason))
            return False
    if bench.setup:
        timeout = bench.timeout_s or config.bench.timeout_s
        try:
            outcome = target.run(wrap(target.work_dir, bench.setup), timeout)
            failed = outcome.status != 0
            message = f"setup exited with status {outcome.status}"
            output = outcome.output
        except TargetTimeout as exc:
            failed, message, output = True, f"setup {exc.message}", exc.partial_output
        if failed:
            store.record(
                run_id,
                target.name,
                bench.id,
                bench.category,
                0,
                "failed",
                [],
                output=output,
                message=message,
            )
            emit(BenchmarkError(target.name, bench.id, 0, "failed", message))
            return False
    return True


def _script(bench: Benchmark, work_dir: str) -> str:
    if bench.parser != "elapsed":
        return wrap(work_dir, bench.command)
    timed = (
        f"{_CLOCK} s=$(ns); {{ {bench.command} ; }} > cmd.out 2>&1; rc=$?; e=$(ns); "
        'tail -c 2000 cmd.out; echo "SEVTUI-ELAPSED-NS $((e - s))"; exit $rc'
    )
    return wrap(work_dir, timed)


def _timeout(config: Config, store: Store, bench: Benchmark, target: Target) -> float:
    """Configured timeout, tightened from the previous run's duration as PTS does."""
    limit = bench.timeout_s or config.bench.timeout_s
    previous = store.last_seconds(target.name, bench.id)
    if previous is None:
        return limit
    return min(limit, max(MIN_DERIVED_TIMEOUT_S, previous * DERIVED_TIMEOUT_FACTOR))


def _execute(config: Config, store: Store, bench: Benchmark, target: Target) -> None:
    """A warm-up run: executed, not recorded."""
    with contextlib.suppress(TargetTimeout):
        target.run(_script(bench, target.work_dir), _timeout(config, store, bench, target))


def _measure(
    config: Config,
    store: Store,
    run_id: int,
    bench: Benchmark,
    target: Target,
    repetition: int,
    state: _State,
    emit: Emit,
) -> bool:
    emit(BenchmarkStarted(target.name, bench.id, repetition, planned=state.planned))
    timeout = _timeout(config, store, bench, target)
    started = time.monotonic()
    try:
        outcome = target.run(_script(bench, target.work_dir), timeout)
    except TargetTimeout as exc:
        store.record(
            run_id,
            target.name,
            bench.id,
            bench.category,
            repetition,
            "timeout",
            [],
            seconds=time.monotonic() - started,
            output=exc.partial_output,
            message=f"killed after {timeout:g} s",
        )
        emit(BenchmarkError(target.name, bench.id, repetition, "timeout", exc.message))
        return False
    seconds = time.monotonic() - started
    values: list[Value] = []
    message = ""
    if outcome.status == 0:
        try:
            values = PARSERS[bench.parser](outcome.output)
        except ParseError as exc:
            message = f"output did not parse: {exc.message}"
    else:
        message = f"exited with status {outcome.status}: {outcome.output.strip()[-200:]}"
    status = "ok" if values else "failed"
    store.record(
        run_id,
        target.name,
        bench.id,
        bench.category,
        repetition,
        status,
        values,
        seconds=seconds,
        output=outcome.output,
        message=message,
    )
    if not values:
        emit(BenchmarkError(target.name, bench.id, repetition, "failed", message))
        return False
    state.measured += 1
    per_metric: dict[str, list[float]] = defaultdict(list)
    for value in values:
        per_metric[value.metric].append(value.value)
    for metric, numbers in per_metric.items():
        state.values[(target.name, bench.id)][metric].append(sum(numbers) / len(numbers))
    emit(
        RepetitionDone(
            target.name,
            bench.id,
            repetition,
            seconds,
            {metric: numbers[-1] for metric, numbers in per_metric.items()},
            state.planned,
        )
    )
    return True
