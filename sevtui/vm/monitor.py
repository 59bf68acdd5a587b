"""Process samples (psutil) and discovery of QEMU processes sevtui did not start."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass

import psutil

from sevtui.config import VmKind, parse_size


@dataclass(frozen=True)
class ProcessSample:
    """Resource use of one QEMU process at one moment."""

    pid: int
    rss_bytes: int
    cpu_percent: float
    uptime_s: float
    threads: int


@dataclass(frozen=True)
class ExternalQemu:
    """A QEMU process found on the host that sevtui did not start."""

    pid: int
    name: str
    kind: VmKind
    accel: str
    vcpus: int
    memory: int
    argv: tuple[str, ...]


def sample(pids: Iterable[int], interval: float = 0.2) -> dict[int, ProcessSample]:
    """Sample RSS and CPU % of PIDS over INTERVAL seconds (dead processes are left out)."""
    procs: dict[int, psutil.Process] = {}
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            proc.cpu_percent(None)
            procs[pid] = proc
        except psutil.Error:
            continue
    if procs and interval > 0:
        time.sleep(interval)
    return sample_now(procs)


def sample_now(procs: dict[int, psutil.Process]) -> dict[int, ProcessSample]:
    """Sample already-primed Process objects (CPU % is since their previous call)."""
    now = time.time()
    samples: dict[int, ProcessSample] = {}
    for pid, proc in procs.items():
        try:
            with proc.oneshot():
                samples[pid] = ProcessSample(
                    pid=pid,
                    rss_bytes=proc.memory_info().rss,
                    cpu_percent=proc.cpu_percent(None),
                    uptime_s=max(now - proc.create_time(), 0.0),
                    threads=proc.num_threads(),
                )
        except psutil.Error:
            continue
    return samples


def find_qemu_processes(exclude: Iterable[int] = ()) -> list[ExternalQemu]:
    """Every qemu-system-* process on the host except EXCLUDE, with its SEV mode.

    Only processes whose name mentions qemu (or is `sevtui-NAME`, as `-name X,process=`
    sets it for the VMs sevtui starts) have their command line read, which keeps a scan
    of a busy host cheap.
    """
    skip = set(exclude)
    found: list[ExternalQemu] = []
    for proc in psutil.process_iter(["pid", "name"]):
        info = proc.info
        name = info.get("name") or ""
        if info["pid"] in skip or not ("qemu" in name or name.startswith("sevtui-")):
            continue
        try:
            argv = proc.cmdline()
        except psutil.Error:
            continue
        if not argv or _is_tool_run(argv):
            continue
        if not os.path.basename(argv[0]).startswith("qemu-system"):
            continue
        found.append(describe_argv(info["pid"], argv))
    return found


def _is_tool_run(argv: list[str]) -> bool:
    """QEMU asked a question (--version, -object help) or sevtui's own KVM probe: not a VM."""
    return any(arg in ("--version", "help", "-version") or "sevtui-kvm-" in arg for arg in argv)


def describe_argv(pid: int, argv: list[str]) -> ExternalQemu:
    """Name, SEV mode, accel, vCPUs and memory read from a QEMU command line."""
    options: dict[str, list[str]] = {}
    for flag, value in zip(argv, [*argv[1:], ""], strict=True):
        if flag.startswith("-"):
            options.setdefault(flag.lstrip("-"), []).append(value)
    name = options.get("name", [f"pid-{pid}"])[0].split(",")[0].removeprefix("guest=")
    objects = options.get("object", [])
    kind: VmKind = "nosev"
    if any(obj.startswith("sev-snp-guest") for obj in objects):
        kind = "sev-snp"
    else:
        for obj in objects:
            if obj.startswith("sev-guest"):
                policy = _option(obj, "policy")
                es = policy is not None and int(policy, 0) & 0x4
                kind = "sev-es" if es else "sev"
    accel = "tcg"
    machine = ",".join(options.get("machine", []) + options.get("M", []))
    if "enable-kvm" in options or "kvm" in options.get("accel", []) or "accel=kvm" in machine:
        accel = "kvm"
    smp = options.get("smp", ["1"])[0].split(",")[0].removeprefix("cpus=")
    memory = 0
    for text in options.get("m", []):
        memory = _size(text.split(",")[0].removeprefix("size="))
    for obj in objects:
        if obj.startswith("memory-backend") and _option(obj, "size"):
            memory = memory or _size(_option(obj, "size") or "")
    return ExternalQemu(
        pid=pid,
        name=name,
        kind=kind,
        accel=accel,
        vcpus=int(smp) if smp.isdigit() else 1,
        memory=memory,
        argv=tuple(argv),
    )


def _option(text: str, key: str) -> str | None:
    for part in text.split(","):
        if part.startswith(f"{key}="):
            return part.split("=", 1)[1]
    return None


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError:
        return 0
