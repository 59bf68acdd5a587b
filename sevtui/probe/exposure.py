"""Can the host read a guest's memory? Plant a canary in the guest, search QEMU's memory.

`scan` reads QEMU's guest-RAM mappings through /proc/PID/mem into one reused
buffer (nothing is written to disk); `gcore` reproduces the seed: dump the
process with gdb's gcore into a private temporary folder, search the file,
delete it. The canary is random per probe and never printed on the console.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from sevtui.base.errors import SevtuiError, UsageError
from sevtui.base.proc import pid_alive, process_started, run_with_timeout, signals_handled
from sevtui.config import Config, VmKind
from sevtui.probe import memscan
from sevtui.vm.lifecycle import VmStatus

Method = Literal["scan", "gcore"]
GCORE_TIMEOUT_S = 1800
EXPOSED = "host can read this guest's memory"
HIDDEN = "canary not found in plaintext: memory is encrypted or not resident"
INCONCLUSIVE = "inconclusive"
CANARY_FILE = "/root/sevtui-canary.txt"
PLANTED = "SEVTUI-PLANTED"
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
    inconclusive: str = ""
    """Why a miss proves nothing (empty when the verdict stands)."""
    covered: int = 0
    """Bytes of guest-RAM mappings the scan looked at (resident or not)."""

    @property
    def throughput_gbps(self) -> float:
        """Gigabytes (1e9) searched per second."""
        return self.bytes_scanned / self.seconds / 1e9 if self.seconds > 0 else 0.0

    @property
    def outcome(self) -> str:
        """exposed, not readable, or inconclusive."""
        if self.found:
            return "exposed"
        return INCONCLUSIVE if self.inconclusive else "not readable"

    @property
    def verdict(self) -> str:
        """The verdict in words."""
        if self.found:
            return EXPOSED
        return f"{INCONCLUSIVE}: {self.inconclusive}" if self.inconclusive else HIDDEN

    def to_json(self) -> dict[str, Any]:
        """The `probe --json` document."""
        data = asdict(self)
        data.update(
            throughput_gbps=round(self.throughput_gbps, 3),
            verdict=self.verdict,
            outcome=self.outcome,
        )
        return data


def new_canary() -> str:
    """A fresh random canary."""
    return "SEVTUI-CANARY-" + secrets.token_hex(16)


def plant_command(canary: str) -> str:
    """Guest shell that writes CANARY to a file, reads it back and says PLANTED when it matches.

    The command is sent with the console's echo off, and the canary is split in it, so
    neither the console nor serial.log holds it; only the guest's memory does.
    """
    prefix, _, secret = canary.rpartition("-")
    joined = f"\"$(printf '%s-%s' {prefix} {secret})\""
    return (
        f"printf '%s-%s\\n' {prefix} {secret} > {CANARY_FILE} && sync && "
        f'[ "$(cat {CANARY_FILE})" = {joined} ] && echo {PLANTED}'
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
    """Search the resident pages of AREAS of process PID for NEEDLE (see sevtui.probe.memscan)."""
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


GCORE_PREFIX = "sevtui-gcore-"


def gcore(pid: int, needle: bytes) -> ProbeResult:
    """The seed's method: gcore to a private temp dir, search the core, delete it.

    The folder is 0700 and the core 0600; it is removed on every way out (SIGTERM and
    SIGHUP included, when sevtui runs in the main thread), and folders left by a sevtui
    that was killed outright are removed the next time.
    """
    gcore_bin = shutil.which("gcore")
    if gcore_bin is None:
        raise SevtuiError("gcore not found", "install gdb: sudo apt-get install gdb")
    remove_stale_dumps(Path(tempfile.gettempdir()))
    started = time.monotonic()
    with (
        _exit_on_signals(),
        tempfile.TemporaryDirectory(prefix=f"{GCORE_PREFIX}{os.getpid()}-") as tmp,
    ):
        prefix = Path(tmp) / "core"
        umask = os.umask(0o077)
        try:
            done = run_with_timeout([gcore_bin, "-o", str(prefix), str(pid)], GCORE_TIMEOUT_S)
        finally:
            os.umask(umask)
            _resume(pid)
        core = Path(f"{prefix}.{pid}")
        if done.returncode != 0 or not core.exists():
            tail = (done.stderr or done.stdout).strip()[-300:]
            raise SevtuiError(f"gcore of PID {pid} failed: {tail}", PTRACE_HINT)
        found = memscan.search_file(core, needle)
    return _result("gcore", found, time.monotonic() - started)


def _resume(pid: int) -> None:
    """SIGCONT to QEMU: gdb stops the process it dumps, and a gdb killed mid-dump (a
    timeout, SIGTERM to sevtui) can leave it stopped, the guest frozen."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGCONT)


def remove_stale_dumps(folder: Path) -> None:
    """Delete gcore folders whose sevtui process is gone (it was killed with SIGKILL)."""
    for stale in folder.glob(f"{GCORE_PREFIX}*-*"):
        owner = stale.name.removeprefix(GCORE_PREFIX).split("-", 1)[0]
        if owner.isdigit() and not pid_alive(int(owner)) and stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)


def _exit_on_signals() -> contextlib.AbstractContextManager[None]:
    """SIGTERM and SIGHUP raise SystemExit meanwhile, so `with` blocks clean up."""

    def leave(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    return signals_handled(leave, signal.SIGTERM, signal.SIGHUP)


def probe_vm(
    config: Config,
    name: str,
    method: Method = "scan",
    secret: str | None = None,
    everything: bool = False,
) -> tuple[ProbeResult, VmKind]:
    """Probe VM NAME (a configured VM first, else an external QEMU with SECRET) and store it.

    Without SECRET a fresh canary is planted in the guest, read back there, and removed
    afterwards; with it, sevtui only searches. A miss is a verdict only when the canary
    was planted by sevtui and the scan covered the guest's RAM as QMP reports it.
    """
    from sevtui.vm import remote
    from sevtui.vm.ref import lookup

    vm, memory = _running_vm(config, name, secret)
    assert vm.pid is not None
    canary = secret or new_canary()
    if not secret:
        guest = lookup(config, name)
        output, status = remote.runner(guest, quiet=True)(plant_command(canary), 60)
        if status != 0 or PLANTED not in output:
            raise SevtuiError(
                f"planting the canary in {name} failed (exit {status}): {output.strip()[-200:]}",
                "check that the guest shell works: sevtui vm exec NAME -- true",
            )
    try:
        result = _search(vm.pid, canary.encode(), method, memory, everything)
    finally:
        if not secret:
            remote.runner(guest)(f"rm -f {CANARY_FILE}", 60)
    if not result.found:
        result.inconclusive = _why_a_miss_proves_nothing(result, memory, secret, method)
    _store(config, vm, result)
    return result, vm.kind


def _running_vm(config: Config, name: str, secret: str | None) -> tuple[VmStatus, int | None]:
    """The running VM NAME and its RAM as QMP reports it (None when QMP cannot say)."""
    from sevtui.vm.inventory import discover, query_qmp
    from sevtui.vm.ref import state_paths

    rows = [row.status for row in discover(config) if row.status.name == name]
    candidates = [row for row in rows if not row.external] or rows
    if not candidates or candidates[0].state != "running" or candidates[0].pid is None:
        state = candidates[0].state if candidates else "not found"
        raise UsageError(f"VM {name!r} is not running ({state})", "start it first")
    vm = candidates[0]
    if vm.external and not secret:
        raise UsageError(
            f"{name!r} is not managed by sevtui: sevtui cannot plant a canary in it",
            "write a text into the guest yourself and pass it with --secret TEXT",
        )
    memory = None if vm.external else query_qmp(state_paths(config, name)).memory
    return vm, memory


def _search(
    pid: int, needle: bytes, method: Method, memory: int | None, everything: bool
) -> ProbeResult:
    if method == "gcore":
        return gcore(pid, needle)
    areas = regions(pid, None if everything else memory, everything)
    result = scan(pid, needle, areas)
    result.covered = sum(area.end - area.start for area in areas)
    return result


def _why_a_miss_proves_nothing(
    result: ProbeResult, memory: int | None, secret: str | None, method: Method
) -> str:
    """Empty when a miss means the memory is not readable, else why it cannot say."""
    if secret:
        return "the text was not planted by sevtui, so a miss may just mean it is not there"
    if method == "gcore":
        return ""
    if memory is None:
        return "QMP did not report the guest's RAM, so the scan's coverage is unknown"
    if result.covered < memory:
        return (
            f"the scanned mappings cover {result.covered >> 20} MiB of the guest's "
            f"{memory >> 20} MiB"
        )
    return ""


def _store(config: Config, vm: VmStatus, result: ProbeResult) -> None:
    from sevtui.store.db import Store
    from sevtui.store.rows import ProbeRow

    store = Store(config.paths.db)
    try:
        store.record_probe(
            ProbeRow(
                vm.name,
                vm.kind,
                result.method,
                result.found,
                result.hits,
                result.bytes_scanned,
                result.seconds,
                result.throughput_gbps,
                reason=result.inconclusive,
                qemu_pid=vm.pid,
                qemu_started=process_started(vm.pid),
            )
        )
    finally:
        store.close()
