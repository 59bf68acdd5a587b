"""The memory-exposure probe against a real TCG guest and a synthetic process."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from sevtui import probe
from sevtui.config import load_config
from sevtui.errors import SevtuiError
from sevtui.tui.sources import LiveSources
from tests.conftest import sevtui

pytestmark = pytest.mark.slow


def test_probe_finds_the_canary_in_a_normal_guest(vm_config_file: Path) -> None:
    assert sevtui(vm_config_file, "vm", "start", "demo").returncode == 0
    found = json.loads(sevtui(vm_config_file, "probe", "demo", "--json").stdout)
    assert found["found"] is True and found["hits"] >= 1
    assert found["verdict"] == "host can read this guest's memory"
    assert 0 < found["bytes_scanned"] <= 256 << 20 and found["locations"]
    missing = sevtui(vm_config_file, "probe", "demo", "--secret", "never-planted-7f3a", "--json")
    assert json.loads(missing.stdout)["found"] is False
    state = vm_config_file.parent / "st" / "vms" / "demo"
    assert "SEVTUI-CANARY-" not in (state / "serial.log").read_text(errors="replace")
    gcore = json.loads(
        sevtui(vm_config_file, "probe", "demo", "--method", "gcore", "--json").stdout
    )
    assert gcore["found"] is True and gcore["method"] == "gcore"
    assert not list(Path(tempfile.gettempdir()).glob("sevtui-gcore-*")), "a core file was left"
    stored = LiveSources(load_config(vm_config_file).config).last_probes()
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
        "import os; from sevtui import probe\n"
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
