"""The memory-exposure probe against a real TCG guest and a synthetic process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from sevtui.base.errors import SevtuiError
from sevtui.config import load_config
from sevtui.probe import exposure as probe
from sevtui.session import Session
from tests.conftest import sevtui

pytestmark = pytest.mark.slow


def test_probe_finds_the_canary_in_a_normal_guest(vm_config_file: Path) -> None:
    assert sevtui(vm_config_file, "vm", "start", "demo").returncode == 0
    found = json.loads(sevtui(vm_config_file, "probe", "demo", "--json").stdout)
    assert found["found"] is True and found["hits"] >= 1
    assert found["verdict"] == "host can read this guest's memory"
    assert 0 < found["bytes_scanned"] <= 256 << 20 and found["locations"]
    missing = sevtui(vm_config_file, "probe", "demo", "--secret", "never-planted-7f3a", "--json")
    unplanted = json.loads(missing.stdout)
    assert unplanted["found"] is False and unplanted["outcome"] == "inconclusive"
    assert "not planted by sevtui" in unplanted["verdict"]
    state = vm_config_file.parent / "st" / "vms" / "demo"
    console = (state / "serial.log").read_text(errors="replace")
    assert "SEVTUI-CANARY" not in console, "the canary (even split) never reaches the console"
    leftover = sevtui(vm_config_file, "vm", "exec", "demo", "--", "ls", "/root")
    assert leftover.returncode == 0 and "sevtui-canary" not in leftover.stdout
    gcore = json.loads(
        sevtui(vm_config_file, "probe", "demo", "--method", "gcore", "--json").stdout
    )
    assert gcore["found"] is True and gcore["method"] == "gcore"
    assert not list(Path(tempfile.gettempdir()).glob("sevtui-gcore-*")), "a core file was left"
    stored = Session(load_config(vm_config_file).config).last_probes()
    assert stored["demo"][0].found is True and stored["demo"][0].method == "gcore"


HOLDER = textwrap.dedent(
    """
    import ctypes
    import sys
    chunk = 1 << 20
    block = bytearray(8 * chunk)
    needle = sys.argv[1].encode()
    at = 3 * chunk - len(needle) // 2
    block[at : at + len(needle)] = needle
    needle = b""
    print(ctypes.addressof((ctypes.c_char * 1).from_buffer(block)) + at, flush=True)
    sys.stdin.read()
    """
)


def test_a_canary_across_a_chunk_boundary_is_found_once() -> None:
    canary = probe.new_canary()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, canary],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        planted_at = int(holder.stdout.readline())
        areas = probe.regions(holder.pid, 8 << 20, everything=False)
        result = probe.scan(holder.pid, canary.encode(), areas, chunk=1 << 20)
        # Python's own copies of argv also hold the text; the planted copy is the one
        # that straddles a 1 MiB chunk boundary, and it must be counted exactly once.
        absolute = [
            int(loc["mapping"].split("-")[0], 16) + loc["offset"] for loc in result.locations
        ]
        assert absolute.count(planted_at) == 1
        assert any(
            (planted_at - area.start) % (1 << 20) > (1 << 20) - 64
            for area in areas
            if area.start <= planted_at < area.end
        )
    finally:
        holder.kill()
        holder.wait()


def test_reading_another_users_process_names_the_setting() -> None:
    code = (
        "import os; from sevtui.probe import exposure as probe\n"
        "os.setgid(65534); os.setuid(65534)\n"
        "try:\n    probe.scan(1, b'x', probe.regions(1, None, True))\n"
        "except Exception as exc:\n    print(type(exc).__name__, exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert "SevtuiError" in done.stdout, done.stderr
    assert "ptrace_scope" in done.stdout and "CAP_SYS_PTRACE" in done.stdout


def test_probe_of_a_stopped_vm_is_a_clear_error(vm_config_file: Path) -> None:
    done = sevtui(vm_config_file, "probe", "demo")
    assert done.returncode == 2 and "is not running" in done.stderr
    with pytest.raises(SevtuiError, match="is gone"):
        probe.regions(2**22 + 12345, None, False)


def test_a_config_that_misstates_the_memory_does_not_fake_a_verdict(vm_config_file: Path) -> None:
    """The scan takes the guest's RAM from QMP, not from the config (256M here, 1G there)."""
    assert sevtui(vm_config_file, "vm", "start", "demo").returncode == 0
    stated = '[vm.demo]\nkind = "nosev"\nmemory = "256M"'
    text = vm_config_file.read_text()
    assert stated in text
    vm_config_file.write_text(text.replace(stated, stated.replace("256M", "1G")))
    result = json.loads(sevtui(vm_config_file, "probe", "demo", "--json").stdout)
    assert result["outcome"] == "exposed", result
    listed = json.loads(sevtui(vm_config_file, "vm", "list", "--json").stdout)
    assert next(row for row in listed if row["name"] == "demo")["memory"] == 256 << 20


def test_gcore_killed_with_sigterm_leaves_no_memory_on_disk(vm_config_file: Path) -> None:
    assert sevtui(vm_config_file, "vm", "start", "demo").returncode == 0
    before = set(Path(tempfile.gettempdir()).glob("sevtui-gcore-*"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "sevtui", "--config", str(vm_config_file), "probe", "demo",
         "--method", "gcore"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        made = set(Path(tempfile.gettempdir()).glob("sevtui-gcore-*")) - before
        if made and any(folder.glob("core*") for folder in made):
            break
        time.sleep(0.05)
    else:
        pytest.fail("gcore never started writing")
    folder = next(iter(made))
    assert oct(folder.stat().st_mode & 0o777) == oct(0o700)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert not folder.exists(), "the dump folder (guest memory) survived SIGTERM"


def test_dump_folders_of_a_killed_sevtui_are_removed_next_time(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f"sevtui-gcore-{dead.pid}-abc"
    stale.mkdir()
    (stale / "core.1").write_bytes(b"guest memory")
    mine = tmp_path / f"sevtui-gcore-{os.getpid()}-def"
    mine.mkdir()
    probe.remove_stale_dumps(tmp_path)
    assert not stale.exists() and mine.exists()


def test_a_verdict_belongs_to_one_qemu_process(vm_config_file: Path) -> None:
    session = Session(load_config(vm_config_file).config)
    assert sevtui(vm_config_file, "vm", "start", "demo").returncode == 0
    assert sevtui(vm_config_file, "probe", "demo").returncode == 0
    assert session.last_probes()["demo"][0].found is True
    assert sevtui(vm_config_file, "vm", "stop", "demo", "--kill").returncode == 0
    assert "demo" not in session.last_probes(), "a stopped VM keeps no verdict"
    assert sevtui(vm_config_file, "vm", "start", "demo").returncode == 0
    assert "demo" not in session.last_probes(), "the restarted QEMU has not been probed"
