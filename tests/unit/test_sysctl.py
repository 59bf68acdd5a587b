"""kernel.numa_balancing for a sweep: set for the run, put back however the run ends.

A folder stands in for /proc/sys (SEVTUI_PROC_SYS), so the host's own setting is never
touched; the guardian is the real process, and the owner is really SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sevtui.bench.variants import parse_vary, with_variants
from sevtui.config import Config, VmConfig
from sevtui.host.sysctl import NUMA_BALANCING, PROC_SYS_ENV, HostSetting, SettingUnavailable


@pytest.fixture
def proc_sys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in /proc/sys whose kernel.numa_balancing is 0."""
    (tmp_path / "kernel").mkdir()
    (tmp_path / NUMA_BALANCING).write_text("0\n")
    monkeypatch.setenv(PROC_SYS_ENV, str(tmp_path))
    return tmp_path / NUMA_BALANCING


def wait_for(condition: Callable[[], bool], seconds: float = 30.0) -> bool:
    """Poll CONDITION (a callable) until it holds or SECONDS pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_a_setting_is_changed_and_put_back_when_the_run_ends(proc_sys: Path) -> None:
    setting = HostSetting(NUMA_BALANCING)
    setting.set("1")
    assert proc_sys.read_text() == "1\n"
    setting.set("0")
    setting.set("1")
    assert setting.saved == "0", "the first value found is the one put back"
    setting.restore()
    assert proc_sys.read_text() == "0\n"


def test_nothing_is_written_by_a_run_that_never_changed_it(proc_sys: Path) -> None:
    proc_sys.write_text("1\n")
    HostSetting(NUMA_BALANCING).restore()
    assert proc_sys.read_text() == "1\n"


def test_a_kernel_without_the_setting_says_so(proc_sys: Path) -> None:
    proc_sys.unlink()
    with pytest.raises(SettingUnavailable, match=r"this kernel has no kernel\.numa_balancing"):
        HostSetting(NUMA_BALANCING).set("1")


def test_the_value_comes_back_after_the_owner_is_killed(proc_sys: Path) -> None:
    owner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from sevtui.host.sysctl import HostSetting, NUMA_BALANCING; "
            "HostSetting(NUMA_BALANCING).set('1'); print('set', flush=True); time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ,
    )
    assert owner.stdout is not None
    assert owner.stdout.readline().strip() == "set"
    assert proc_sys.read_text() == "1\n"
    os.kill(owner.pid, signal.SIGKILL)
    owner.wait()
    assert wait_for(lambda: proc_sys.read_text() == "0\n"), proc_sys.read_text()


def test_a_sweep_varies_numa_balancing_as_a_vm_key() -> None:
    config = Config(vm={"demo": VmConfig()})
    swept = with_variants(config, ["demo@numa_balancing=0", "demo@numa_balancing=1"])
    assert swept.vm["demo@numa_balancing=1"].numa_balancing == 1
    assert swept.vm["demo@numa_balancing=0"].numa_balancing == 0
    assert parse_vary(["numa_balancing=0,1"]) == [("numa_balancing", ["0", "1"])]
