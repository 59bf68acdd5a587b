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
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from sevtui import memscan
from sevtui.errors import SevtuiError

Method = Literal["scan", "gcore"]
EXPOSED = "host can read this guest's memory"
HIDDEN = "canary not found in plaintext: memory is encrypted or not resident"
PTRACE_HINT = (
    "run as root (CAP_SYS_PTRACE), or relax kernel.yama.ptrace_scope "
    "(sysctl kernel.yama.ptrace_scope=0); another user's QEMU can only be read by root"
)


@dataclass(frozen=True)
class Region:
    """One mapping of the QEMU process."""

    start: int
    end: int
    perms: str
    name: str

    @property
    def size(self) -> int:
        """Bytes in the mapping."""
        return self.end - self.start


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


def regions(pid: int, memory: int | None, everything: bool) -> list[Region]:
    """QEMU's guest RAM: the anonymous mapping of exactly the guest's size when there is one,
    else every anonymous mapping at least that big; with EVERYTHING, all readable mappings."""
    maps = Path(f"/proc/{pid}/maps")
    try:
        lines = maps.read_text().splitlines()
    except FileNotFoundError:
        raise SevtuiError(f"process {pid} is gone", "is the VM running? sevtui vm list") from None
    except PermissionError:
        raise SevtuiError(f"cannot read {maps}: permission denied", PTRACE_HINT) from None
    found: list[Region] = []
    for line in lines:
        parts = line.split(maxsplit=5)
        start, end = (int(x, 16) for x in parts[0].split("-"))
        perms = parts[1]
        name = parts[5] if len(parts) > 5 else ""
        region = Region(start, end, perms, name)
        if not perms.startswith("r"):
            continue
        anonymous = name in ("", "[anon]") or "memfd" in name
        big_enough = memory is None or region.size >= memory
        if everything or (anonymous and big_enough):
            found.append(region)
    exact = [region for region in found if memory is not None and region.size == memory]
    return found if everything or not exact else exact


def scan(pid: int, needle: bytes, areas: list[Region], chunk: int = memscan.CHUNK) -> ProbeResult:
    """Search the resident pages of AREAS of process PID for NEEDLE (see sevtui.memscan)."""
    started = time.monotonic()
    targets = [
        memscan.Area(a.start, a.end, f"{a.start:x}-{a.end:x} {a.name or '[anon]'}") for a in areas
    ]
    try:
        found = memscan.search(pid, needle, targets, chunk)
    except PermissionError:
        raise SevtuiError(
            f"cannot read the memory of PID {pid}: permission denied", PTRACE_HINT
        ) from None
    except (ProcessLookupError, FileNotFoundError):
        raise SevtuiError(f"process {pid} is gone", "is the VM running? sevtui vm list") from None
    result = ProbeResult(
        "scan",
        found.hits > 0,
        found.hits,
        found.bytes_read,
        time.monotonic() - started,
        [{"mapping": area.name, "offset": offset} for area, offset in found.locations],
        found.unreadable,
    )
    return result


def _find_all(
    buffer: bytearray, window: int, needle: bytes, base: int, area: Region, result: ProbeResult
) -> None:
    at = buffer.find(needle, 0, window)
    while at != -1:
        result.hits += 1
        if len(result.locations) < 20:
            result.locations.append(
                {
                    "mapping": f"{area.start:x}-{area.end:x} {area.name or '[anon]'}",
                    "offset": base + at - area.start,
                }
            )
        at = buffer.find(needle, at + 1, window)


def gcore(pid: int, needle: bytes) -> ProbeResult:
    """The seed's method: gcore to a private temp dir, search the core, delete it."""
    gcore_bin = shutil.which("gcore")
    if gcore_bin is None:
        raise SevtuiError("gcore not found", "install gdb: sudo apt-get install gdb")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sevtui-gcore-") as tmp:
        os.chmod(tmp, 0o700)
        prefix = Path(tmp) / "core"
        done = subprocess.run(
            [gcore_bin, "-o", str(prefix), str(pid)],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=1800,
            check=False,
        )
        core = Path(f"{prefix}.{pid}")
        if done.returncode != 0 or not core.exists():
            tail = (done.stderr or done.stdout).strip()[-300:]
            raise SevtuiError(f"gcore of PID {pid} failed: {tail}", PTRACE_HINT)
        os.chmod(core, 0o600)
        size = core.stat().st_size
        area = Region(0, size, "r", str(core.name))
        result = ProbeResult("gcore", False, 0, 0, 0.0)
        with core.open("rb") as handle:
            carried = b""
            offset = 0
            while chunk := handle.read(memscan.CHUNK):
                data = carried + chunk
                buffer = bytearray(data)
                _find_all(buffer, len(buffer), needle, offset - len(carried), area, result)
                offset += len(chunk)
                carried = data[-(len(needle) - 1) :]
        result.bytes_scanned = size
    result.seconds = time.monotonic() - started
    result.found = result.hits > 0
    return result
