"""The runner for real: the quick suite in two TCG guests, and kill -9 then resume."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import sevtui

pytestmark = pytest.mark.slow


def bounded(config: Path) -> None:
    """No warm-up and no extra repetitions: keeps the test short and deterministic."""
    text = config.read_text().replace("[qemu]", "[bench]\nwarmup = 0\nmax_repetitions = 2\n[qemu]")
    config.write_text(text)


FIVE = (
    '[suites]\nfive = ["lz4-compress-quick", "lz4-decompress-quick", "sqlite-insert-quick", '
    '"mbw-quick", "redis-quick"]\n'
)
"""The quick suite's five benchmarks that need neither a compiler nor a disk nor a VM
(for runs on the host that test the runner, not the suite)."""


def assert_boot_phases_increase(config: Path, run_id: int) -> None:
    """Each cold boot: QMP answers before the console's first byte, which comes before ready."""
    checked = json.loads(sevtui(config, "config", "check", "--json").stdout)
    with sqlite3.connect(Path(checked["config"]["paths"]["data_dir"]) / "sevtui.db") as db:
        rows = db.execute(
            "SELECT target, repetition, metric, value FROM measurements "
            "WHERE run_id = ? AND benchmark = 'boot'",
            (run_id,),
        ).fetchall()
    boots: dict[tuple[str, int], dict[str, float]] = {}
    for target, repetition, metric, value in rows:
        boots.setdefault((target, repetition), {})[metric] = value
    assert len(boots) == 4, boots  # two guests, two repetitions
    for phases in boots.values():
        assert 0 < phases["QMP ready"] < phases["console first byte"] < phases["ready"], phases
        assert 0 < phases["guest uptime at ready"] < phases["ready"], phases


@pytest.mark.timeout(600)
def test_quick_suite_on_two_guests_is_stored_and_comparable(vm_config_file: Path) -> None:
    bounded(vm_config_file)
    done = sevtui(
        vm_config_file,
        "bench",
        "run",
        "--vm",
        "demo",
        "--vm",
        "other",
        "--suite",
        "quick",
        "--repetitions",
        "2",
        "--label",
        "two",
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    shown = json.loads(sevtui(vm_config_file, "results", "show", "two", "--json").stdout)
    run = shown["runs"][0]
    assert run["status"] == "done"
    assert run["target_info"]["demo"]["clocksource"] != "unknown"
    assert run["target_info"]["demo"]["guest_kernel"].endswith("-amd64")
    assert run["provenance"]["qemu"].startswith("QEMU emulator version")
    benchmarks = {(m["target"], m["benchmark"]) for m in shown["metrics"]}
    for target in ("demo", "other"):
        for bench in (
            "lz4-compress-quick",
            "lz4-decompress-quick",
            "sqlite-insert-quick",
            "mbw-quick",
            "redis-quick",
            "net-quick",
            "exits",
            "boot",
        ):
            assert (target, bench) in benchmarks
    assert all(m["n"] >= 2 for m in shown["metrics"])
    compared = sevtui(
        vm_config_file, "results", "compare", "two", "--base", "demo", "--other", "other", "--json"
    )
    table = json.loads(compared.stdout)
    assert table["not_compared"] == []
    assert set(table["categories"]) == {"cpu", "memory", "io", "network", "exits", "launch"}
    units = {m["metric"]: m["unit"] for m in shown["metrics"] if m["target"] == "demo"}
    assert units["TCP host->guest 1 stream Gbit/s"] == "Gbit/s"
    assert units["cpuid ns"] == "ns" and units["UDP host->guest jitter"] == "ms"
    nic = run["target_info"]["demo"]["nic"]
    assert nic["backend"] == "user" and isinstance(nic["iperf3_port"], int)
    assert_boot_phases_increase(vm_config_file, run["id"])
    [boot] = [b for b in table["benchmarks"] if b["benchmark"] == "boot"]
    assert boot["category"] == "launch" and boot["overhead_pct"] is not None
    assert run["target_info"]["demo"]["work_media"] == "ram"
    # The demo guest's own kernel log says it has no memory encryption.
    word = run["target_info"]["demo"]["guest_word"]
    assert word["confirmed_mode"] == "none", word
    assert word["dev_sev_guest"] is False and word["configfs_tsm_report"] is False
    assert table["modes"]["demo"] == {
        "configured_mode": "nosev",
        "confirmed_mode": "none",
        "attested": "inconclusive",
        "unconfirmed": False,
        "reason": "the guest kernel's boot log has no 'Memory Encryption Features' line",
    }
    shown_text = sevtui(vm_config_file, "results", "show", "two").stdout
    assert "demo: configured nosev, guest confirmed none (" in shown_text
    # ... and has no attestation interface, which the run records as such.
    attestation = run["target_info"]["demo"]["attestation"]
    assert attestation["status"] == "inconclusive"
    assert attestation["reasons"] == ["no SEV-SNP or TDX attestation interface in this guest"]
    assert "demo: attested: inconclusive: no SEV-SNP or TDX attestation interface" in shown_text
    intervals = [b["overhead_ci95"] for b in table["benchmarks"] if b["overhead_ci95"]]
    assert all(-100 <= low <= high for low, high in intervals)
    assert "Traceback" not in done.stderr


def test_kill_9_keeps_measurements_and_resume_completes(vm_config_file: Path) -> None:
    bounded(vm_config_file)
    with vm_config_file.open("a") as config:
        config.write(FIVE)
    db = vm_config_file.parent / "data" / "sevtui.db"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sevtui",
            "--config",
            str(vm_config_file),
            "bench",
            "run",
            "--vm",
            "host",
            "--suite",
            "five",
            "--repetitions",
            "2",
            "--label",
            "killed",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    stored = 0
    while stored < 3:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
        if db.exists():
            with sqlite3.connect(db) as conn:
                try:
                    stored = conn.execute(
                        "SELECT COUNT(*) FROM results WHERE status = 'ok'"
                    ).fetchone()[0]
                except sqlite3.OperationalError:
                    stored = 0
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        kept = conn.execute("SELECT COUNT(*) FROM results WHERE status = 'ok'").fetchone()[0]
    assert kept >= 3
    runs = json.loads(sevtui(vm_config_file, "results", "list", "--json").stdout)
    assert runs[0]["status"] == "interrupted"
    resumed = sevtui(vm_config_file, "bench", "resume", str(runs[0]["id"]), timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT benchmark, repetition, COUNT(*) FROM results WHERE status = 'ok' "
            "GROUP BY benchmark, repetition"
        ).fetchall()
    assert {count for _b, _r, count in rows} == {1}, "a repetition was measured twice"
    assert len(rows) == 5 * 2
    final = json.loads(sevtui(vm_config_file, "results", "list", "--json").stdout)
    assert final[0]["status"] == "done"


def test_bench_bad_input(vm_config_file: Path) -> None:
    unknown_vm = sevtui(vm_config_file, "bench", "run", "--vm", "nope")
    assert unknown_vm.returncode == 2 and "no VM named 'nope'" in unknown_vm.stderr
    unknown_suite = sevtui(vm_config_file, "bench", "run", "--vm", "host", "--suite", "zz")
    assert unknown_suite.returncode == 2 and "no suite named 'zz'" in unknown_suite.stderr
    assert "Traceback" not in unknown_vm.stderr + unknown_suite.stderr


def test_a_hung_benchmark_in_the_guest_dies_and_the_next_one_runs(vm_config_file: Path) -> None:
    """`trap '' INT` ignores Ctrl-C: the in-guest watchdog kills its process group."""
    bounded(vm_config_file)
    with vm_config_file.open("a") as config:
        config.write(
            "[benchmark.hang]\ncommand = \"trap '' INT TERM; while true; do sleep 1; done\"\n"
            'timeout_s = 5\n[benchmark.after]\ncommand = "echo SEVTUI-ELAPSED-NS 1; sleep 0.3"\n'
            '[suites]\nhang = ["hang", "after"]\n'
        )
    ran = sevtui(
        vm_config_file, "bench", "run", "--vm", "demo", "--suite", "hang",
        "--repetitions", "1", "--label", "hang", timeout=300,
    )  # fmt: skip
    assert ran.returncode == 1, ran.stderr[-2000:]
    assert "run 1 failed: demo/hang repetition 1: timeout: killed after 5 s" in ran.stdout
    shown = json.loads(sevtui(vm_config_file, "results", "show", "hang", "--json").stdout)
    assert shown["runs"][0]["status"] == "failed" and "timeout" in shown["runs"][0]["reason"]
    (after,) = [m for m in shown["metrics"] if m["benchmark"] == "after"]
    assert after["mean"] >= 0.3, "the benchmark's own timing line was not taken"
    left = sevtui(vm_config_file, "vm", "exec", "demo", "--", "ps", "-o", "comm")
    assert left.returncode == 0 and "sh" in left.stdout.split()
    assert "sleep" not in left.stdout.split(), "the hung loop is gone"
    sevtui(vm_config_file, "vm", "stop", "demo", "--kill")


def test_a_run_on_a_vm_that_cannot_launch_here_fails_with_its_reason(
    vm_config_file: Path,
) -> None:
    from sevtui.config import load_config
    from sevtui.host.inspect import inspect_host

    if inspect_host(load_config(vm_config_file).config).profiles["sev-snp"].launchable:
        pytest.skip("this host can launch SEV-SNP guests")
    ran = sevtui(vm_config_file, "bench", "run", "--vm", "snp", "--label", "snp", timeout=300)
    assert ran.returncode == 1 and "Traceback" not in ran.stderr
    assert "run 1 failed: target snp could not be opened" in ran.stdout
    shown = sevtui(vm_config_file, "results", "show", "snp")
    assert "reason: target snp could not be opened" in shown.stdout
    assert (
        json.loads(sevtui(vm_config_file, "results", "list", "--json").stdout)[0]["status"]
        == "failed"
    )


def test_a_vm_a_run_uses_is_not_stopped_from_elsewhere(vm_config_file: Path) -> None:
    bounded(vm_config_file)
    with vm_config_file.open("a") as config:
        config.write('[benchmark.long]\ncommand = "sleep 60"\n[suites]\nlong = ["long"]\n')
    run = subprocess.Popen(
        [sys.executable, "-m", "sevtui", "--config", str(vm_config_file), "bench", "run",
         "--vm", "demo", "--suite", "long", "--repetitions", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    lease = vm_config_file.parent / "st" / "vms" / "demo" / "lease.json"
    deadline = time.monotonic() + 120
    while not lease.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert lease.exists(), "the run never took its lease"
    refused = sevtui(vm_config_file, "vm", "stop", "demo")
    assert refused.returncode == 1 and "in use by benchmark run 1" in refused.stderr
    assert "--force" in refused.stderr
    run.send_signal(signal.SIGKILL)
    run.wait()
    stopped = sevtui(vm_config_file, "vm", "stop", "demo", "--kill")
    assert stopped.returncode == 0, "a dead run's lease does not hold the VM"
