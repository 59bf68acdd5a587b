"""Is KVM usable? The API version ioctl, and a bounded functional probe with QEMU.

`/dev/kvm` can exist, answer ioctls and still hang every real guest (nested
setups do this). Only running guest code tells, so the probe boots something
under `-accel kvm` with a hard time limit and caches the verdict per boot.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from sevtui.base import statedir
from sevtui.base.errors import CommandTimeout, SevtuiError
from sevtui.base.proc import run_with_timeout

KVM_GET_API_VERSION = 0xAE00
PROBE_TIMEOUT_S = 6.0
PROBE_READY = "SEVTUI-KVM-PROBE-OK"

# Real-mode code at the reset vector: write 0 to isa-debug-exit (QEMU exits 1), halt.
_RESET_CODE = bytes([0xB0, 0x00, 0xE6, 0xF4, 0xF4, 0xEB, 0xFD])


@dataclass(frozen=True)
class KvmVerdict:
    """Whether guests run under KVM here, and the evidence."""

    usable: bool
    reason: str
    seconds: float = 0.0
    verified: bool = True
    """False when no guest kernel could be booted to tell (the minimal image is not
    built): usable is then False too, until a guest has booted under KVM."""


@dataclass(frozen=True)
class ProbeGuest:
    """A kernel and initramfs whose init prints PROBE_READY when given `sevtui.probe`."""

    kernel: Path
    initrd: Path


def api_version(device: Path) -> int:
    """KVM_GET_API_VERSION on a KVM device node (12 on every current kernel)."""
    fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    try:
        return fcntl.ioctl(fd, KVM_GET_API_VERSION)
    finally:
        os.close(fd)


def probe_kvm(qemu: str, guest: ProbeGuest | None, cache_dir: Path | None) -> KvmVerdict:
    """Run guest code under KVM with a deadline; cached per boot, QEMU and guest."""
    key = _cache_key(qemu, guest)
    cache = cache_dir / "kvm-probe.json" if cache_dir else None
    if cache is not None:
        cached = _read_cache(cache, key)
        if cached is not None:
            return cached
    verdict = _probe_uncached(qemu, guest)
    if cache is not None:
        _write_cache(cache, key, verdict)
    return verdict


def _probe_uncached(qemu: str, guest: ProbeGuest | None) -> KvmVerdict:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sevtui-kvm-") as tmp:
        firmware = Path(tmp) / "reset.bin"
        image = bytearray(b"\xf4" * 65536)
        image[0xFFF0 : 0xFFF0 + len(_RESET_CODE)] = _RESET_CODE
        firmware.write_bytes(bytes(image))
        argv = [qemu, "-accel", "kvm", "-M", "pc", "-nodefaults", "-display", "none"]
        argv += ["-bios", str(firmware), "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
        code, output = _run_bounded(argv, PROBE_TIMEOUT_S)
    if code != 1:
        return KvmVerdict(False, _why(code, output, "a real-mode test guest"), _since(started))
    if guest is None:
        return KvmVerdict(
            False,
            "KVM not verified: only a real-mode test guest ran, no guest kernel has booted "
            "under it yet (build the minimal guest image to verify)",
            _since(started),
            verified=False,
        )
    argv = [qemu, "-accel", "kvm", "-cpu", "host", "-m", "256", "-nodefaults"]
    argv += ["-display", "none", "-serial", "stdio", "-no-reboot"]
    argv += ["-kernel", str(guest.kernel), "-initrd", str(guest.initrd)]
    argv += ["-append", "console=ttyS0 quiet panic=-1 sevtui.probe"]
    code, output = _run_bounded(argv, PROBE_TIMEOUT_S)
    if PROBE_READY in output:
        return KvmVerdict(True, "KVM booted the minimal guest kernel", _since(started))
    return KvmVerdict(False, _why(code, output, "the minimal guest kernel"), _since(started))


def _why(code: int | None, output: str, what: str) -> str:
    if code is None:
        return f"/dev/kvm answers but {what} hung under KVM for {PROBE_TIMEOUT_S:.0f} s"
    tail = output.strip().splitlines()[-1:] or ["no output"]
    return f"QEMU could not run {what} under KVM (exit {code}: {tail[0][:160]})"


def _run_bounded(argv: list[str], timeout: float) -> tuple[int | None, str]:
    """Run QEMU with a deadline; (exit code or None on timeout, combined output)."""
    try:
        done = run_with_timeout(argv, timeout, merge_stderr=True)
    except CommandTimeout as exc:
        return None, exc.partial_output
    except SevtuiError as exc:
        return -1, exc.message
    return done.returncode, done.stdout


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)


def _cache_key(qemu: str, guest: ProbeGuest | None) -> str:
    parts = ["probe-v2", _boot_id(), qemu, _mtime(Path(qemu))]
    if guest is not None:
        parts += [str(guest.kernel), _mtime(guest.kernel), str(guest.initrd), _mtime(guest.initrd)]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown-boot"


def _mtime(path: Path) -> str:
    try:
        return str(path.stat().st_mtime_ns)
    except OSError:
        return "missing"


def _read_cache(cache: Path, key: str) -> KvmVerdict | None:
    """The cached verdict for KEY; a cache that is not ours (or a link) is ignored."""
    try:
        raw = statedir.read(cache.parent, cache.name)
        data = json.loads(raw) if raw else {}
        if data.get("key") == key:
            return KvmVerdict(
                bool(data["usable"]),
                str(data["reason"]),
                float(data["seconds"]),
                bool(data.get("verified", True)),
            )
    except (SevtuiError, OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return None


def _write_cache(cache: Path, key: str, verdict: KvmVerdict) -> None:
    """Cache the verdict in the private state folder (never through a link)."""
    try:
        statedir.private_dir(cache.parent, levels=1)
        data = json.dumps({"key": key, **asdict(verdict)}, allow_nan=False)
        statedir.write(cache.parent, cache.name, data.encode())
    except (SevtuiError, OSError):
        pass
