"""What the host was doing while a repetition ran: load, other QEMU processes, CPU settings.

A repetition taken while another process used more than BUSY_CPU_PCT of a core is
flagged `busy`; `results compare` says so above its table.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

BUSY_CPU_PCT = 20.0
_CpuTimes = dict[int, tuple[str, float, bool]]  # pid -> (name, cpu seconds, is QEMU)


@dataclass(frozen=True)
class Window:
    """The process CPU times at the start of a repetition."""

    started: float
    times: _CpuTimes


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return "unknown"


def cpu_settings(root: Path = Path("/")) -> dict[str, str]:
    """Frequency governor, boost state and transparent hugepages, as the kernel reports them."""
    sys_cpu = root / "sys/devices/system/cpu"
    boost = _read(sys_cpu / "cpufreq/boost")
    if boost == "unknown":
        no_turbo = _read(sys_cpu / "intel_pstate/no_turbo")
        boost = {"0": "1", "1": "0"}.get(no_turbo, "unknown")
    thp = _read(root / "sys/kernel/mm/transparent_hugepage/enabled")
    chosen = thp.split("[", 1)[1].split("]", 1)[0] if "[" in thp else thp
    return {
        "governor": _read(sys_cpu / "cpu0/cpufreq/scaling_governor"),
        "boost": boost,
        "thp": chosen,
    }


def load_average(root: Path = Path("/")) -> float | None:
    """The 1-minute load average."""
    try:
        return float(_read(root / "proc/loadavg").split()[0])
    except (ValueError, IndexError):
        return None


def _cpu_times() -> _CpuTimes:
    found: _CpuTimes = {}
    for proc in psutil.process_iter(["name", "cpu_times", "exe"]):
        info = proc.info
        times = info.get("cpu_times")
        if times is None:
            continue
        name = info.get("name") or "?"
        is_qemu = "qemu-system" in name or "qemu-system" in (info.get("exe") or "")
        found[proc.pid] = (name, times.user + times.system, is_qemu)
    return found


def start() -> Window:
    """Take the CPU times of every process before a repetition."""
    return Window(time.monotonic(), _cpu_times())


def finish(
    window: Window, exclude: set[int], root: Path = Path("/")
) -> tuple[dict[str, Any], bool]:
    """Conditions of the repetition since WINDOW, and whether the host was busy.

    EXCLUDE holds the processes that are part of the measurement (the target's QEMU and
    its supervisor); sevtui's own process and its children are excluded too.
    """
    elapsed = max(time.monotonic() - window.started, 1e-3)
    ours = {os.getpid(), *(child.pid for child in _children())}
    busy: list[dict[str, Any]] = []
    qemu: list[dict[str, Any]] = []
    for pid, (name, seconds, is_qemu) in _cpu_times().items():
        if pid in exclude or pid in ours:
            continue
        before = window.times.get(pid)
        used = seconds - before[1] if before else seconds
        cpu_pct = round(max(used, 0.0) / elapsed * 100, 1)
        if is_qemu:
            qemu.append({"pid": pid, "cpu_pct": cpu_pct})
        if cpu_pct > BUSY_CPU_PCT:
            busy.append({"pid": pid, "name": name, "cpu_pct": cpu_pct})
    conditions: dict[str, Any] = {
        "load_1m": load_average(root),
        "other_qemu": qemu,
        "busy_processes": busy,
        **cpu_settings(root),
    }
    return conditions, bool(busy)


def _children() -> list[psutil.Process]:
    try:
        return psutil.Process().children(recursive=True)
    except psutil.Error:
        return []
