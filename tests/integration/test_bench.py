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
        ):
            assert (target, bench) in benchmarks
    assert all(m["n"] >= 2 for m in shown["metrics"])
    compared = sevtui(
        vm_config_file, "results", "compare", "two", "--base", "demo", "--other", "other", "--json"
    )
    table = json.loads(compared.stdout)
    assert table["only_in_one"] == []
    assert set(table["categories"]) == {"cpu", "memory", "io"}
    assert "Traceback" not in done.stderr


def test_kill_9_keeps_measurements_and_resume_completes(vm_config_file: Path) -> None:
    bounded(vm_config_file)
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
            "quick",
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
