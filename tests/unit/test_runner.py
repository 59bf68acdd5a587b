"""The runner on real host targets (sh in a scratch folder), driven in seconds, not minutes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from sevtui.base.errors import SevtuiError
from sevtui.bench import conditions
from sevtui.bench.catalog import Benchmark, build_catalog
from sevtui.bench.events import (
    BenchmarkStarted,
    BenchmarkUnavailable,
    Event,
    RepetitionDone,
    RunPlan,
)
from sevtui.bench.facts import run_facts
from sevtui.bench.pace import Pace
from sevtui.bench.provenance import work_filesystem
from sevtui.bench.runner import SuiteRun
from sevtui.bench.targets import HostTarget, Outcome, Target
from sevtui.store.db import Store

QUICK = Benchmark("quick", "echo", "cpu", "sleep 0.05")
HANG = Benchmark(
    "hang",
    "ignores SIGINT and SIGTERM",
    "cpu",
    "trap '' INT TERM; while :; do sleep 1; done",
    timeout_s=2,
)
FORGER = Benchmark(
    "forger",
    "prints timing lines",
    "cpu",
    "echo SEVTUI-ELAPSED-NS 1; echo SEVTUI-ELAPSED-x 1; sleep 0.3",
)
NOISY = Benchmark(
    "noisy",
    "random sleeps",
    "cpu",
    "sleep 0.0$(( $(od -An -N1 -tu1 /dev/urandom) % 9 + 1 ))",
)


def make_run(
    tmp_path: Path,
    benches: list[Benchmark],
    targets: list[str],
    repetitions: int = 1,
    max_repetitions: int = 1,
    resume: int | None = None,
    emit: list[Event] | None = None,
    stop: threading.Event | None = None,
    warmup: int = 0,
    **design: Any,
) -> tuple[SuiteRun, Store]:
    store = Store(tmp_path / "r.db")
    plan = RunPlan(
        targets,
        "s",
        repetitions,
        "t",
        warmup=warmup,
        max_repetitions=max_repetitions,
        cv_threshold_pct=3.5,
        timeout_s=60,
        resume_run=resume,
        **design,
    )
    run_id = resume or store.create_run("t", "running", "s", repetitions, targets)
    if resume:
        store.reopen_run(resume)
    events = emit if emit is not None else []
    return SuiteRun(store, run_id, plan, benches, events.append, stop), store


class Named(HostTarget):
    """The host under another name (a second target)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


class Dying(HostTarget):
    """Answers CALLS scripts, then behaves like a guest whose QEMU was killed."""

    def __init__(self, name: str, calls: int) -> None:
        super().__init__()
        self.name = name
        self.calls = calls

    def run(self, script: str, timeout: float) -> Outcome:
        self.calls -= 1
        if self.calls < 0:
            raise SevtuiError("the guest console closed (did the VM stop?)")
        return super().run(script, timeout)


def test_a_hung_benchmark_dies_and_the_next_one_runs_with_honest_timing(tmp_path: Path) -> None:
    run, store = make_run(tmp_path, [HANG, FORGER], ["host"])
    started = time.monotonic()
    outcome = run.execute(lambda name: HostTarget())
    assert time.monotonic() - started < 20
    assert outcome.status == "failed" and outcome.exit_code == 1
    assert "host/hang repetition 1: timeout: killed after 2 s" in outcome.reason
    results = {r.benchmark: r for r in store.results(run.run_id)}
    assert results["hang"].status == "timeout" and results["forger"].status == "ok"
    (forged,) = [s for s in store.samples([run.run_id]) if s.benchmark == "forger"]
    assert forged.value >= 0.3, "the benchmark's own timing lines must not be taken"
    assert store.run(run.run_id).reason == outcome.reason
    assert subprocess.run(["pgrep", "-f", "while :; do sleep 1"], check=False).returncode == 1


def test_a_target_that_cannot_open_fails_the_run_and_leaks_nothing(tmp_path: Path) -> None:
    opened: list[HostTarget] = []

    def open_target(name: str) -> Target:
        if name == "sev-snp":
            raise SevtuiError("sev-snp cannot launch here: no SEV", "use a host with SEV-SNP")
        opened.append(HostTarget())
        return opened[-1]

    run, store = make_run(tmp_path, [QUICK], ["host", "sev-snp"])
    outcome = run.execute(open_target)
    assert outcome.status == "failed" and outcome.measured == 1
    assert "target sev-snp could not be opened: sev-snp cannot launch here" in outcome.reason
    assert not Path(opened[0].work_dir).exists()
    statuses = {(r.target, r.status) for r in store.results(run.run_id)}
    assert statuses == {("host", "ok"), ("sev-snp", "failed")}
    assert store.run(run.run_id).status == "failed"


def test_an_unexpected_error_still_finishes_the_run(tmp_path: Path) -> None:
    def broken(name: str) -> Target:
        raise RuntimeError("bug")

    run, store = make_run(tmp_path, [QUICK], ["host"])
    with pytest.raises(RuntimeError):
        run.execute(broken)
    row = store.run(run.run_id)
    assert row.status == "failed" and row.reason == "internal error: RuntimeError: bug"


def test_a_target_that_dies_fails_its_remaining_work_and_the_other_goes_on(
    tmp_path: Path,
) -> None:
    # Dying answers: `mkdir; uname; mounts` at open, then the first quick repetition.
    run, store = make_run(
        tmp_path, [QUICK, FORGER], ["demo", "host"], repetitions=2, max_repetitions=2
    )
    outcome = run.execute(lambda name: Dying(name, 2) if name == "demo" else HostTarget())
    assert outcome.status == "failed"
    assert "target demo stopped answering during quick: the guest console closed" in outcome.reason
    results = store.results(run.run_id)
    host_ok = [r for r in results if r.target == "host" and r.status == "ok"]
    assert len(host_ok) == 4, "host measured both benchmarks twice"
    demo = {(r.benchmark, r.status) for r in results if r.target == "demo"}
    assert demo == {("quick", "ok"), ("quick", "failed"), ("forger", "failed")}


def test_a_noisy_benchmark_gets_exactly_the_planned_repetitions_resumed_or_not(
    tmp_path: Path,
) -> None:
    """No optional stopping: 10..90 ms sleeps have a CV far above 3.5 %, yet a fresh and a
    resumed run both measure the 3 planned repetitions, never more."""
    stop = threading.Event()
    events: list[Event] = []

    def stop_after_two(event: Event) -> None:
        events.append(event)
        if isinstance(event, RepetitionDone) and event.repetition == 2:
            stop.set()

    run, store = make_run(tmp_path, [NOISY], ["host"], repetitions=3, max_repetitions=6)
    run.emit = stop_after_two
    run.stop = stop
    assert run.execute(lambda name: HostTarget()).status == "interrupted"
    assert len(store.samples([run.run_id])) == 2
    resumed, store = make_run(
        tmp_path, [NOISY], ["host"], repetitions=3, max_repetitions=6, resume=run.run_id
    )
    assert resumed.execute(lambda name: HostTarget()).status == "done"
    assert sorted(s.repetition for s in store.samples([run.run_id])) == [1, 2, 3]


def test_launches_open_each_target_anew_and_number_their_repetitions(tmp_path: Path) -> None:
    opened: list[str] = []

    def open_target(name: str) -> Target:
        opened.append(name)
        return Named(name)

    run, store = make_run(tmp_path, [QUICK], ["a", "b"], repetitions=2, launches=3, seed=7)
    assert run.execute(open_target).status == "done"
    assert sorted(opened) == ["a", "a", "a", "b", "b", "b"]
    got = sorted((s.target, s.repetition, s.launch) for s in store.samples([run.run_id]))
    assert got == [(target, rep, (rep + 1) // 2) for target in ("a", "b") for rep in range(1, 7)]


def _orders(tmp_path: Path, seed: int, order: str = "random") -> list[tuple[str, ...]]:
    """Which target went first in each round of a run with this seed."""
    run, store = make_run(tmp_path, [QUICK], ["a", "b", "c"], repetitions=6, seed=seed, order=order)
    run.execute(Named)
    rows = [r for r in store.results(run.run_id) if r.repetition > 0]
    rounds: dict[int, list[tuple[int, str]]] = {}
    for row in rows:
        assert row.position is not None
        rounds.setdefault(row.repetition, []).append((row.position, row.target))
    store.close()
    return [tuple(name for _, name in sorted(r)) for _, r in sorted(rounds.items())]


def test_the_order_is_drawn_from_the_seed_and_recorded(tmp_path: Path) -> None:
    first = _orders(tmp_path / "1", seed=1)
    assert first == _orders(tmp_path / "2", seed=1), "the same seed gives the same order"
    assert first != _orders(tmp_path / "3", seed=2), "another seed, another order"
    assert len(set(first)) > 1, "the order changes between rounds"
    assert set(_orders(tmp_path / "4", seed=1, order="fixed")) == {("a", "b", "c")}


def test_the_adaptive_mode_measures_what_its_pilot_calls_for(tmp_path: Path) -> None:
    run, store = make_run(
        tmp_path, [NOISY], ["host"], repetitions=3, max_repetitions=8, precision_pct=1.0
    )
    assert run.execute(lambda name: HostTarget()).status == "done"
    rows = [r for r in store.results(run.run_id) if r.repetition > 0]
    pilots = [r.repetition for r in rows if r.pilot]
    assert pilots == [1, 2, 3]
    # A 1 % half-width is far below what 10..90 ms sleeps allow: the cap is reached.
    assert [r.repetition for r in rows if not r.pilot] == [4, 5, 6, 7, 8]
    assert sorted(s.repetition for s in store.samples([run.run_id])) == [4, 5, 6, 7, 8]


def test_the_host_target_records_its_work_medium(tmp_path: Path) -> None:
    run, store = make_run(tmp_path, [QUICK], ["host"])
    run.execute(lambda name: HostTarget())
    info = store.run(run.run_id).target_info["host"]
    assert info["work_fs"] != "unknown" and info["work_media"] in ("ram", "disk", "unknown")
    facts = run_facts(store, [run.run_id])
    assert facts.media["host"] == info["work_media"]


def test_work_filesystem_takes_the_longest_mount_point() -> None:
    mounts = [
        "rootfs / rootfs rw 0 0",
        "/dev/vda1 /srv ext4 rw 0 0",
        "tmpfs /tmp tmpfs rw 0 0",
        "/dev/vdb1 /tmp/disk xfs rw 0 0",
    ]
    assert work_filesystem("/tmp/sevtui-bench", mounts) == "tmpfs"
    assert work_filesystem("/tmp/disk/sevtui", mounts) == "xfs"
    assert work_filesystem("/srvx/a", mounts) == "rootfs"
    assert work_filesystem("/a", []) == "unknown"


def test_cpu_settings_from_a_sysroot(tmp_path: Path) -> None:
    (tmp_path / "sys/devices/system/cpu/cpu0/cpufreq").mkdir(parents=True)
    (tmp_path / "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor").write_text("performance\n")
    (tmp_path / "sys/devices/system/cpu/intel_pstate").mkdir()
    (tmp_path / "sys/devices/system/cpu/intel_pstate/no_turbo").write_text("1\n")
    (tmp_path / "sys/kernel/mm/transparent_hugepage").mkdir(parents=True)
    (tmp_path / "sys/kernel/mm/transparent_hugepage/enabled").write_text("always [madvise] never\n")
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/loadavg").write_text("0.42 0.30 0.20 1/100 123\n")
    assert conditions.cpu_settings(tmp_path) == {
        "governor": "performance",
        "boost": "0",
        "thp": "madvise",
    }
    assert conditions.load_average(tmp_path) == 0.42


def test_a_busy_neighbour_is_noticed() -> None:
    # An orphaned busy loop (not sevtui's child) is load beside the measurement.
    spin = "import time\nend = time.time() + 3\nwhile time.time() < end: pass\n"
    launcher = subprocess.run(
        ["sh", "-c", f'{sys.executable} -c "$0" >/dev/null 2>&1 & echo $!', spin],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(launcher.stdout.strip())
    try:
        window = conditions.start()
        time.sleep(1.0)
        found, busy = conditions.finish(window, set())
        assert busy and pid in [p["pid"] for p in found["busy_processes"]]
        window = conditions.start()
        time.sleep(0.5)
        _found, busy = conditions.finish(window, {pid})
        assert pid not in [p["pid"] for p in _found["busy_processes"]]
    finally:
        os.kill(pid, 9)


def test_the_quick_catalog_headlines_are_valid() -> None:
    catalog = build_catalog()
    assert catalog.headlines()["redis-quick"] == " rps$"
    assert catalog.headlines()["linux-build"] == ""


def test_output_without_a_final_newline_is_still_timed(tmp_path: Path) -> None:
    bench = Benchmark("no-newline", "printf", "cpu", "printf 'no newline at the end'")
    run, store = make_run(tmp_path, [bench], ["host"])
    assert run.execute(lambda name: HostTarget()).status == "done"
    (sample,) = store.samples([run.run_id])
    assert sample.metric == "time" and 0 < sample.value < 5


def test_a_setup_killed_by_the_watchdog_says_so(tmp_path: Path) -> None:
    slow_setup = Benchmark(
        "slow", "setup hangs", "cpu", "true", setup="echo preparing; sleep 60", timeout_s=1
    )
    run, store = make_run(tmp_path, [slow_setup], ["host"], repetitions=2)
    outcome = run.execute(lambda name: HostTarget())
    assert outcome.status == "failed"
    (row,) = store.results(run.run_id)
    assert row.status == "failed" and row.message.startswith("setup killed after 1 s")


def test_help_texts_print_no_doubled_percent_signs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sevtui", "results", "compare", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "%%" not in done.stdout and "95 % CI" in done.stdout


class WithTool(Named):
    """The host under another name, with one more command on its PATH."""

    def __init__(self, name: str, tools: Path) -> None:
        super().__init__(name)
        self.tools = tools

    def run(self, script: str, timeout: float) -> Outcome:
        return super().run(f"PATH={self.tools}:$PATH; {script}", timeout)


def test_a_benchmark_only_one_target_can_run_is_measured_once(tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "only-here").write_text("#!/bin/sh\nsleep 0.01\n")
    (tools / "only-here").chmod(0o755)
    lone = Benchmark(
        "lone", "needs a tool one target has", "cpu", "only-here", needs=("only-here",)
    )
    events: list[Event] = []
    run, store = make_run(
        tmp_path, [lone, QUICK], ["a", "b"], repetitions=3, emit=events, launches=2
    )

    def open_target(name: str) -> Target:
        return WithTool(name, tools) if name == "a" else Named(name)

    assert run.execute(open_target).status == "done"
    measured = sorted((s.target, s.benchmark, s.repetition) for s in store.samples([run.run_id]))
    assert [m for m in measured if m[1] == "lone"] == [("a", "lone", 1)]
    assert len([m for m in measured if m[1] == "quick"]) == 12, "the others as planned"
    said = [
        e for e in events if isinstance(e, BenchmarkUnavailable) and "measured once" in e.reason
    ]
    assert len(said) == 1 and said[0].target == "b"
    first_start = next(i for i, e in enumerate(events) if isinstance(e, BenchmarkStarted))
    unavailable = [i for i, e in enumerate(events) if isinstance(e, BenchmarkUnavailable)]
    assert unavailable and max(unavailable) < first_start, (
        "what a target lacks is said before any benchmark starts"
    )


def test_the_eta_adds_each_benchmarks_own_pace_and_its_warm_ups(tmp_path: Path) -> None:
    slow = Benchmark("slow", "a slow one", "cpu", "sleep 0.3")
    events: list[Event] = []
    run, _store = make_run(tmp_path, [QUICK, slow], ["host"], repetitions=3, emit=events, warmup=1)
    run._load_previous()
    assert run.left_s() is None, "no typical time and nothing measured: no estimate"
    run.pace.remember(("host", "quick"), 0.1)
    run.pace.remember(("host", "slow"), 2.0)
    assert run.left_s() == pytest.approx(4 * 0.1 + 4 * 2.0), "3 repetitions + 1 warm-up"
    run.pace = Pace({}, set())
    run.pace.remember(("host", "slow"), 2.0)
    assert run.left_s() == pytest.approx(4 * 2.0 + 4 * 2.0), "unknown: the mean pace"
    assert run.execute(lambda name: HostTarget()).status == "done"
    done = [e for e in events if isinstance(e, RepetitionDone)]
    assert done[-1].left_s == 0.0
    first_slow = next(e for e in done if e.benchmark == "slow")
    assert first_slow.left_s is not None
    assert first_slow.left_s == pytest.approx(2 * first_slow.seconds, rel=0.01), (
        "two slow ones to go (warm-up behind), at the pace the first one set"
    )


def test_a_setup_gets_the_benchmarks_timeout_not_its_measured_pace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watchdog's limit for a repetition follows the benchmark's last runs; a setup
    (here 1.5 s before a near-instant benchmark) must not be held to that."""
    import sevtui.bench.runner as runner

    monkeypatch.setattr(runner, "MIN_DERIVED_TIMEOUT_S", 0.5)
    prepared = Benchmark("prepared", "slow setup", "cpu", "true", setup="sleep 1.5")
    for attempt in (1, 2):
        run, store = make_run(tmp_path, [prepared], ["host"], repetitions=2)
        assert run.execute(lambda name: HostTarget()).status == "done", attempt
        store.close()


class Guest(HostTarget):
    """A VM target stood in for by this machine: it notes every script it runs."""

    kind = "vm"

    def __init__(self, name: str, port: int | None, host: str = "127.0.0.1") -> None:
        super().__init__({"nic": {"iperf3_host": host, "iperf3_port": port}} if port else {})
        self.name = name
        self.scripts: list[str] = []

    def run(self, script: str, timeout: float) -> Outcome:
        self.scripts.append(script)
        return super().run(script, timeout)


def test_a_host_side_client_runs_on_the_host_against_the_targets_port(tmp_path: Path) -> None:
    client = Benchmark(
        "client",
        "a host-side client",
        "other",
        "echo server=$SEVTUI_NET_HOST:$SEVTUI_NET_PORT",
        setup="echo serving > served",
        host_side="sh",
        vm_only="the host has nothing to be a client of",
    )
    events: list[Event] = []
    names = ["host", "vm", "vm2", "tap", "tap2"]
    run, store = make_run(tmp_path, [client], names, repetitions=2, emit=events)
    guests = {
        "vm": Guest("vm", 4242),
        "vm2": Guest("vm2", 4343),
        "tap": Guest("tap", None),
        "tap2": Guest("tap2", 5201, "10.77.0.2"),
    }

    def open_target(name: str) -> Target:
        return guests[name] if name in guests else HostTarget()

    assert run.execute(open_target).status == "done"
    for name, server in (
        ("vm", "127.0.0.1:4242"),
        ("vm2", "127.0.0.1:4343"),
        ("tap2", "10.77.0.2:5201"),
    ):
        outputs = [store.output(run.run_id, name, "client", rep) for rep in (1, 2)]
        assert all(f"server={server}" in text for text in outputs), "its own endpoint"
    assert any("echo serving" in s for s in guests["vm"].scripts), "the setup ran in the target"
    assert not any("echo server=" in s for s in guests["vm"].scripts), "the client did not"
    why = {e.target: e.reason for e in events if isinstance(e, BenchmarkUnavailable)}
    assert why["host"] == "the host has nothing to be a client of"
    assert why["tap"].startswith("the host cannot reach tap's sh server")
    assert "vm.NAME.guest_address" in why["tap"]
