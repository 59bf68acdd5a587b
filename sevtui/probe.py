"""Can the host read a guest's memory? Plant a canary in the guest, search QEMU's memory.

`scan` reads QEMU's guest-RAM mappings through /proc/PID/mem into one reused
buffer (nothing is written to disk); `gcore` reproduces the seed: dump the
process with gdb's gcore into a private temporary folder, search the file,
delete it. The canary is random per probe and never printed on the console.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from sevtui import memscan
from sevtui.config import Config, VmKind
from sevtui.errors import SevtuiError, UsageError
from sevtui.proc import run_with_timeout

Method = Literal["scan", "gcore"]
GCORE_TIMEOUT_S = 1800
EXPOSED = "host can read this guest's memory"
HIDDEN = "canary not found in plaintext: memory is encrypted or not resident"
PTRACE_HINT = (
    "run as root (CAP_SYS_PTRACE), or relax kernel.yama.ptrace_scope "
    "(sysctl kernel.yama.ptrace_scope=0); another user's QEMU can only be read by root"
)


@dataclass
class ProbeResult:
    """What one probe found."""

    method: Method
    found: bool
    hits: int
    bytes_scanned: int
    seconds: float
    locations: list[dict[str, Any]] = field(default_factory=list)
    unreadable_bytes: int = 0

    @property
    def throughput_gbps(self) -> float:
        """Gigabytes (1e9) searched per second."""
        return self.bytes_scanned / self.seconds / 1e9 if self.seconds > 0 else 0.0

    @property
    def verdict(self) -> str:
        """The verdict in words."""
        return EXPOSED if self.found else HIDDEN

    def to_json(self) -> dict[str, Any]:
        """The `probe --json` document."""
        data = asdict(self)
        data.update(throughput_gbps=round(self.throughput_gbps, 3), verdict=self.verdict)
        return data


def new_canary() -> str:
    """A fresh random canary."""
    return "SEVTUI-CANARY-" + secrets.token_hex(16)


def plant_command(canary: str) -> str:
    """Guest shell that writes CANARY to a file and reads it back without printing it.

    The canary is split in the command so the console echo and serial log never
    hold it whole; only the guest's memory (page cache, buffers) does.
    """
    prefix, _, secret = canary.rpartition("-")
    return (
        f"printf '%s-%s\\n' {prefix} {secret} > /root/sevtui-canary.txt && "
        "cat /root/sevtui-canary.txt > /dev/null && sync"
    )


def regions(pid: int, memory: int | None, everything: bool) -> list[memscan.Area]:
    """QEMU's guest RAM: the anonymous mapping of exactly the guest's size when there is one,
    else every anonymous mapping at least that big; with EVERYTHING, all readable mappings."""
    maps = Path(f"/proc/{pid}/maps")
    try:
        lines = maps.read_text().splitlines()
    except FileNotFoundError:
        raise SevtuiError(f"process {pid} is gone", "is the VM running? sevtui vm list") from None
    except PermissionError:
        raise SevtuiError(f"cannot read {maps}: permission denied", PTRACE_HINT) from None
    found: list[memscan.Area] = []
    for line in lines:
        parts = line.split(maxsplit=5)
        start, end = (int(x, 16) for x in parts[0].split("-"))
        name = parts[5] if len(parts) > 5 else ""
        if not parts[1].startswith("r"):
            continue
        anonymous = name in ("", "[anon]") or "memfd" in name
        big_enough = memory is None or end - start >= memory
        if everything or (anonymous and big_enough):
            found.append(memscan.Area(start, end, f"{start:x}-{end:x} {name or '[anon]'}"))
    exact = [area for area in found if memory is not None and area.end - area.start == memory]
    return found if everything or not exact else exact


def scan(
    pid: int, needle: bytes, areas: list[memscan.Area], chunk: int = memscan.CHUNK
) -> ProbeResult:
    """Search the resident pages of AREAS of process PID for NEEDLE (see sevtui.memscan)."""
    started = time.monotonic()
    try:
        found = memscan.search(pid, needle, areas, chunk)
    except PermissionError:
        raise SevtuiError(
            f"cannot read the memory of PID {pid}: permission denied", PTRACE_HINT
        ) from None
    except (ProcessLookupError, FileNotFoundError):
        raise SevtuiError(f"process {pid} is gone", "is the VM running? sevtui vm list") from None
    return _result("scan", found, time.monotonic() - started)


def _result(method: Method, found: memscan.Found, seconds: float) -> ProbeResult:
    return ProbeResult(
        method,
        found.hits > 0,
        found.hits,
        found.bytes_read,
        seconds,
        [{"mapping": area.name, "offset": offset} for area, offset in found.locations],
        found.unreadable,
    )


def gcore(pid: int, needle: bytes) -> ProbeResult:
    """The seed's method: gcore to a private temp dir, search the core, delete it."""
    gcore_bin = shutil.which("gcore")
    if gcore_bin is None:
        raise SevtuiError("gcore not found", "install gdb: sudo apt-get install gdb")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sevtui-gcore-") as tmp:
        os.chmod(tmp, 0o700)
        prefix = Path(tmp) / "core"
        done = run_with_timeout([gcore_bin, "-o", str(prefix), str(pid)], GCORE_TIMEOUT_S)
        core = Path(f"{prefix}.{pid}")
        if done.returncode != 0 or not core.exists():
            tail = (done.stderr or done.stdout).strip()[-300:]
            raise SevtuiError(f"gcore of PID {pid} failed: {tail}", PTRACE_HINT)
        os.chmod(core, 0o600)
        found = memscan.search_file(core, needle)
    return _result("gcore", found, time.monotonic() - started)


def probe_vm(
    config: Config,
    name: str,
    method: Method = "scan",
    secret: str | None = None,
    everything: bool = False,
) -> tuple[ProbeResult, VmKind]:
    """Probe VM NAME (a configured VM first, else an external QEMU with SECRET) and store it.

    Without SECRET a fresh canary is planted in the guest; with it, sevtui only searches.
    """
    from sevtui.store import ProbeRow, Store
    from sevtui.vm import remote
    from sevtui.vm.inventory import discover

    rows = [row.status for row in discover(config) if row.status.name == name]
    candidates = [row for row in rows if not row.external] or rows
    if not candidates or candidates[0].state != "running" or candidates[0].pid is None:
        state = candidates[0].state if candidates else "not found"
        raise UsageError(f"VM {name!r} is not running ({state})", "start it first")
    vm = candidates[0]
    assert vm.pid is not None
    if vm.external and not secret:
        raise UsageError(
            f"{name!r} is not managed by sevtui: sevtui cannot plant a canary in it",
            "write a text into the guest yourself and pass it with --secret TEXT",
        )
    canary = secret or new_canary()
    if not secret:
        output, status = remote.runner(config, name)(plant_command(canary), 60)
        if status != 0:
            raise SevtuiError(f"planting the canary in {name} failed: {output[-200:]}")
    if method == "gcore":
        result = gcore(vm.pid, canary.encode())
    else:
        areas = regions(vm.pid, None if everything else vm.memory, everything)
        result = scan(vm.pid, canary.encode(), areas)
    store = Store(config.paths.db)
    try:
        store.record_probe(
            ProbeRow(
                name,
                vm.kind,
                result.method,
                result.found,
                result.hits,
                result.bytes_scanned,
                result.seconds,
                result.throughput_gbps,
            )
        )
    finally:
        store.close()
    return result, vm.kind
