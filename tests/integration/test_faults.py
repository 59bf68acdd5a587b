"""Fault matrix, slow rows: kill sevtui, kill writers, hang benchmarks, stubborn VMs."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from sevtui.config import Config
from sevtui.store.db import Store
from tests.conftest import sevtui

pytestmark = pytest.mark.slow
SOAK_REPS = int(os.environ.get("SEVTUI_SOAK_REPS", "5"))


def rows(config: Path) -> dict[str, dict[str, object]]:
    listing = json.loads(sevtui(config, "vm", "list", "--json").stdout)
    return {row["name"]: row for row in listing if not row["external"]}


def test_sevtui_killed_while_two_vms_run(vm_config_file: Path) -> None:
    for name in ("demo", "other"):
        assert sevtui(vm_config_file, "vm", "start", name, "--no-wait").returncode == 0
    before = rows(vm_config_file)
    session = f"kill-{vm_config_file.parent.name}"
    sevtui_bin = Path(sys.executable).with_name("sevtui")
    subprocess.run(
        [
            "tmux",
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            "100",
            "-y",
            "30",
            f"{sevtui_bin} --config {vm_config_file}",
        ],
        check=True,
    )
    time.sleep(3)
    pane = int(
        subprocess.run(
            ["tmux", "display-message", "-p", "-t", session, "#{pane_pid}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    app = next(
        p
        for p in [psutil.Process(pane), *psutil.Process(pane).children(True)]
        if "sevtui" in " ".join(p.cmdline())
    )
    app.kill()
    subprocess.run(["tmux", "kill-session", "-t", session], check=False)
    after = rows(vm_config_file)
    for name in ("demo", "other"):
        assert after[name]["state"] == "running"
        assert after[name]["pid"] == before[name]["pid"]
        assert after[name]["qmp_status"] == "running"


def test_unwritable_state_dir_is_a_clear_error(vm_config_file: Path) -> None:
    assert sevtui(vm_config_file, "vm", "start", "demo", "--no-wait").returncode == 0
    pid = rows(vm_config_file)["demo"]["pid"]
    blocker = vm_config_file.parent / "not-a-dir"
    blocker.write_text("")
    text = vm_config_file.read_text()
    broken = vm_config_file.parent / "broken.toml"
    broken.write_text(
        text.replace(f'state_dir = "{vm_config_file.parent / "st"}"', f'state_dir = "{blocker}/st"')
    )
    done = sevtui(broken, "vm", "start", "other")
    assert done.returncode == 1 and "cannot prepare state dir" in done.stderr
    assert "Traceback" not in done.stderr
    assert rows(vm_config_file)["demo"]["pid"] == pid


STUBBORN = textwrap.dedent(
    """
    import signal, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("ready", flush=True)
    time.sleep(600)
    """
)


def test_a_vm_ignoring_powerdown_and_sigterm_is_killed_on_schedule(
    vm_config_file: Path, vm_config: Config
) -> None:
    state = vm_config.paths.state_dir / "vms" / "demo"
    # The stand-in carries this VM's QMP socket path in its argv, as its QEMU would.
    stubborn = subprocess.Popen(
        [sys.executable, "-c", STUBBORN, f"path={state / 'qmp.sock'}"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert stubborn.stdout is not None and stubborn.stdout.readline().strip() == "ready"
    state.mkdir(parents=True)
    proc = psutil.Process(stubborn.pid)
    (state / "vm.json").write_text(
        json.dumps({"pid": proc.pid, "create_time": proc.create_time(), "exe": proc.exe()})
    )
    started = time.monotonic()
    done = sevtui(vm_config_file, "vm", "stop", "demo", "--grace", "1")
    elapsed = time.monotonic() - started
    stubborn.wait(timeout=5)
    assert done.returncode == 0, done.stderr
    assert "stopped by SIGKILL" in done.stdout
    assert "SIGTERM" in done.stderr and "QMP quit" in done.stderr
    assert elapsed < 1 + 3 + 3 + 3 + 3


WRITER = textwrap.dedent(
    """
    import sys
    from sevtui.base.values import Value
    from sevtui.store.db import Store
    from sevtui.store.rows import RepetitionRecord
    store = Store(__import__("pathlib").Path(sys.argv[1]))
    run = store.create_run("soak", "running", "quick", 1, ["host"])
    i = 0
    while True:
        i += 1
        value = Value("time", "s", "lower", i * 0.5)
        store.record(run, RepetitionRecord("host", "b", "cpu", i, "ok", [value]))
        print(i, flush=True)
    """
)


def test_sigkill_during_measurement_writes_loses_nothing(tmp_path: Path) -> None:
    db = tmp_path / "soak.db"
    for round_ in range(SOAK_REPS):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True
        )
        assert writer.stdout is not None
        reported = []
        deadline = time.monotonic() + random.uniform(0.2, 1.0)
        while time.monotonic() < deadline:
            line = writer.stdout.readline()
            if line:
                reported.append(int(line))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        assert reported, f"round {round_}: the writer stored nothing before the kill"
        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok", round_
        store = Store(db)
        runs = store.runs()
        assert runs[0].status == "interrupted"
        stored = {m.repetition for m in store.samples([runs[0].id])}
        assert set(reported) <= stored, f"round {round_}: reported but missing"
        store.close()


def test_a_hanging_guest_benchmark_times_out_and_resume_reruns_only_it(
    vm_config_file: Path,
) -> None:
    vm_config_file.write_text(
        vm_config_file.read_text().replace(
            "[qemu]", "[bench]\nwarmup = 0\nmax_repetitions = 1\n[qemu]"
        )
        + '\n[benchmark.hang]\ncategory = "cpu"\ncommand = "echo partial; sleep 600"\n'
        'timeout_s = 4\n[suites]\nhangs = ["hang", "sqlite-insert-quick"]\n'
    )
    done = sevtui(
        vm_config_file,
        "bench",
        "run",
        "--vm",
        "demo",
        "--suite",
        "hangs",
        "--repetitions",
        "1",
        "--label",
        "hang",
        timeout=300,
    )
    assert done.returncode == 1, done.stderr[-1500:]
    assert "hang timeout" in done.stderr
    assert "run 1 failed: demo/hang repetition 1: timeout" in done.stdout
    shown = json.loads(sevtui(vm_config_file, "results", "show", "hang", "--json").stdout)
    problems = {p["benchmark"]: p for p in shown["problems"]}
    assert problems["hang"]["status"] == "timeout"
    assert any(m["benchmark"] == "sqlite-insert-quick" for m in shown["metrics"])
    run_id = shown["runs"][0]["id"]
    resumed = sevtui(vm_config_file, "bench", "resume", str(run_id), timeout=300)
    assert resumed.returncode == 1, "the hang times out again: the run stays failed"
    assert "sqlite-insert-quick" not in resumed.stderr
    assert "hang" in resumed.stderr
    db = vm_config_file.parent / "data" / "sevtui.db"
    with sqlite3.connect(db) as conn:
        counts = dict(
            conn.execute(
                "SELECT benchmark, COUNT(*) FROM results WHERE status = 'ok' GROUP BY benchmark"
            ).fetchall()
        )
    assert counts == {"sqlite-insert-quick": 1}


def test_a_noisy_metric_gets_the_planned_repetitions_and_is_flagged(
    vm_config_file: Path,
) -> None:
    """No optional stopping: a CV far above the threshold adds no repetition; the metric
    is flagged noisy instead."""
    vm_config_file.write_text(
        vm_config_file.read_text().replace(
            "[qemu]", "[bench]\nwarmup = 0\nmax_repetitions = 5\ncv_threshold_pct = 0.5\n[qemu]"
        )
        + '\n[benchmark.jitter]\ncategory = "cpu"\n'
        'command = "sleep 0.0$(od -An -N2 -tu2 /dev/urandom | tr -dc 0-9)"\n'
        '[suites]\nnoisy = ["jitter"]\n'
    )
    done = sevtui(
        vm_config_file,
        "bench",
        "run",
        "--vm",
        "host",
        "--suite",
        "noisy",
        "--repetitions",
        "2",
        "--label",
        "noisy",
    )
    assert done.returncode == 0, done.stderr
    shown = json.loads(sevtui(vm_config_file, "results", "show", "noisy", "--json").stdout)
    metric = shown["metrics"][0]
    assert metric["n"] == 2 and metric["cv_pct"] > 0.5
    text = sevtui(vm_config_file, "results", "show", "noisy").stdout
    assert "cv " in text
