"""The VM lifecycle against real QEMU under TCG, driven through the real CLI."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from sevtui.config import Config
from sevtui.vm.lifecycle import status
from sevtui.vm.ref import lookup
from tests.conftest import sevtui

pytestmark = pytest.mark.slow


def listing(config: Path) -> dict[str, dict[str, object]]:
    done = sevtui(config, "vm", "list", "--json")
    assert done.returncode == 0, done.stderr
    return {row["name"]: row for row in json.loads(done.stdout) if not row["external"]}


def test_start_list_exec_stop(vm_config_file: Path) -> None:
    started = sevtui(vm_config_file, "vm", "start", "demo")
    assert started.returncode == 0, started.stderr
    assert "demo: running, PID" in started.stdout and "ready after" in started.stdout

    row = listing(vm_config_file)["demo"]
    pid = row["pid"]
    assert isinstance(pid, int)
    assert Path(psutil.Process(pid).exe()).name.startswith("qemu-system")
    assert row["state"] == "running" and row["accel"] == "tcg"
    assert isinstance(row["rss_bytes"], int) and row["rss_bytes"] > 50 << 20
    assert row["qmp_status"] == "running", row["sev"]

    kernel = sevtui(vm_config_file, "vm", "exec", "demo", "--", "uname", "-r")
    assert kernel.returncode == 0
    assert kernel.stdout.strip().endswith("-amd64")

    wrote = sevtui(vm_config_file, "vm", "exec", "demo", "--", "sh", "-c", "echo hi > /tmp/f")
    assert wrote.returncode == 0
    read = sevtui(vm_config_file, "vm", "exec", "demo", "--", "cat", "/tmp/f")
    assert read.stdout == "hi\n"
    failing = sevtui(vm_config_file, "vm", "exec", "demo", "--", "sh", "-c", "exit 7")
    assert failing.returncode == 7

    hostile = sevtui(vm_config_file, "vm", "exec", "demo", "--", "echo", "$(id)", "a;b")
    assert hostile.stdout == "$(id) a;b\n"
    # busybox's line editor keeps 1023 characters of a line: a longer command (a
    # benchmark's script under its watchdog is one) must arrive whole all the same.
    words = [f"w{i:04d}'q\"%" for i in range(250)]
    long = sevtui(vm_config_file, "vm", "exec", "demo", "--", "echo", *words)
    assert long.returncode == 0 and long.stdout == " ".join(words) + "\n"

    again = sevtui(vm_config_file, "vm", "start", "demo")
    assert again.returncode == 2 and "already running" in again.stderr

    before = time.monotonic()
    stopped = sevtui(vm_config_file, "vm", "stop", "demo")
    assert stopped.returncode == 0, stopped.stderr
    assert time.monotonic() - before < 15
    assert "stopped by ACPI powerdown" in stopped.stdout
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert listing(vm_config_file)["demo"]["state"] == "stopped"


def test_kill_9_shows_crashed_and_poweroff_shows_shutoff(
    vm_config_file: Path, vm_config: Config
) -> None:
    assert sevtui(vm_config_file, "vm", "start", "demo").returncode == 0
    pid = status(lookup(vm_config, "demo")).pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 2
    while "killed by signal 9" not in status(lookup(vm_config, "demo")).detail:
        assert time.monotonic() < deadline, "crash not seen within 2 s"
        time.sleep(0.05)
    assert status(lookup(vm_config, "demo")).state == "crashed"

    assert sevtui(vm_config_file, "vm", "start", "demo").returncode == 0
    sevtui(vm_config_file, "vm", "exec", "demo", "--timeout", "5", "--", "poweroff", "-f")
    deadline = time.monotonic() + 10
    while status(lookup(vm_config, "demo")).state != "shutoff":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert status(lookup(vm_config, "demo")).detail == "the guest powered off"


def test_a_new_sevtui_finds_running_vms_by_identity(vm_config_file: Path) -> None:
    assert sevtui(vm_config_file, "vm", "start", "demo", "--no-wait").returncode == 0
    assert sevtui(vm_config_file, "vm", "start", "other", "--no-wait").returncode == 0
    first = listing(vm_config_file)
    second = listing(vm_config_file)
    for name in ("demo", "other"):
        assert second[name]["state"] == "running"
        assert second[name]["pid"] == first[name]["pid"]
    assert sevtui(vm_config_file, "vm", "stop", "other", "--kill").returncode == 0
    assert listing(vm_config_file)["demo"]["state"] == "running"


def test_stale_pidfile_is_reported_and_nothing_is_signalled(
    vm_config_file: Path, vm_config: Config
) -> None:
    state = vm_config.paths.state_dir / "vms" / "demo"
    state.mkdir(parents=True)
    me = psutil.Process()
    (state / "vm.json").write_text(
        json.dumps({"pid": me.pid, "create_time": me.create_time() - 100, "exe": me.exe()})
    )
    row = status(lookup(vm_config, "demo"))
    assert row.state == "crashed" and row.pid is None
    assert f"stale pidfile: PID {me.pid}" in row.stale
    stopped = sevtui(vm_config_file, "vm", "stop", "demo")
    assert stopped.returncode == 2
    assert "not running" in stopped.stderr and "nothing signalled" in stopped.stderr
    assert psutil.pid_exists(me.pid)


def test_sev_snp_is_refused_here_and_qemu_explains_when_forced(vm_config_file: Path) -> None:
    refused = sevtui(vm_config_file, "vm", "start", "snp")
    assert refused.returncode == 1
    assert "this host cannot run sev-snp guests" in refused.stderr
    assert "Traceback" not in refused.stderr
    # Even --force cannot start a directly booted SNP guest without firmware that measures
    # the kernel; what QEMU says when it gets that far is tested with QEMU 10 (test_qemu10).
    forced = sevtui(vm_config_file, "vm", "start", "snp", "--force")
    assert forced.returncode == 1
    if "no firmware for sev-snp" in forced.stderr:
        assert "ovmf-amdsev" in forced.stderr
    else:
        assert "QEMU failed to start" in forced.stderr and "why:" in forced.stderr
    assert "Traceback" not in forced.stderr


def test_hostile_vm_name_is_rejected_and_nothing_runs(vm_config_file: Path) -> None:
    marker = Path("/tmp/sevtui-pwn-marker")
    marker.unlink(missing_ok=True)
    done = sevtui(vm_config_file, "vm", "start", f"a;touch {marker}")
    assert done.returncode == 2 and "no VM named" in done.stderr
    assert not marker.exists()


def test_vm_argv_json(vm_config_file: Path) -> None:
    done = sevtui(vm_config_file, "vm", "argv", "demo", "--json")
    argv = json.loads(done.stdout)["argv"]
    assert argv[argv.index("-accel") + 1] == "tcg"
    assert argv[argv.index("-m") + 1] == "256M"
