"""What the installed QEMU is: version and the object types it knows (sev-guest, ...)."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from functools import cache

from sevtui.base.errors import SevtuiError
from sevtui.base.kinds import SnpDialect
from sevtui.base.proc import run_checked

QEMU_PACKAGE_HINT = "install QEMU (Debian/Ubuntu: sudo apt-get install qemu-system-x86)"


@dataclass(frozen=True)
class QemuInfo:
    """An installed QEMU system emulator."""

    path: str
    version: tuple[int, int, int]
    version_text: str
    objects: frozenset[str]
    machine_aliases: tuple[tuple[str, str], ...] = ()

    @property
    def aliases(self) -> dict[str, str]:
        """Machine type aliases: 'q35' -> 'pc-q35-10.0'."""
        return dict(self.machine_aliases)


def find_binary(name: str, what: str, hint: str) -> str:
    """Resolve a program name on PATH, or fail with a hint saying how to install it."""
    found = shutil.which(name)
    if not found:
        raise SevtuiError(f"{what} not found: {name!r} is not on PATH", hint)
    return found


@cache
def probe_qemu(binary: str) -> QemuInfo:
    """Run `BINARY --version` and `BINARY -object help` once per process."""
    path = find_binary(binary, "QEMU", QEMU_PACKAGE_HINT)
    version_text = run_checked([path, "--version"], "qemu --version", QEMU_PACKAGE_HINT, timeout=20)
    version_text = version_text.splitlines()[0]
    match = re.search(r"version (\d+)\.(\d+)(?:\.(\d+))?", version_text)
    if not match:
        raise SevtuiError(f"cannot tell QEMU's version from {version_text!r}", QEMU_PACKAGE_HINT)
    major, minor, micro = (int(part or 0) for part in match.groups())
    objects_text = run_checked(
        [path, "-machine", "none", "-object", "help"],
        "qemu -object help",
        QEMU_PACKAGE_HINT,
        timeout=20,
    )
    objects = frozenset(
        line.strip() for line in objects_text.splitlines()[1:] if line.startswith("  ")
    )
    machines_text = run_checked(
        [path, "-machine", "help"], "qemu -machine help", QEMU_PACKAGE_HINT, timeout=20
    )
    aliases = tuple(
        (fields[0], alias.group(1))
        for line in machines_text.splitlines()
        if (alias := re.search(r"\(alias of ([\w.-]+)\)", line)) and (fields := line.split())
    )
    return QemuInfo(path, (major, minor, micro), version_text, objects, aliases)


def snp_dialect(configured: str, qemu: QemuInfo | None) -> SnpDialect:
    """Which SEV-SNP syntax to use: the configured one, else chosen from QEMU itself."""
    if configured in ("upstream", "amd-fork"):
        return "upstream" if configured == "upstream" else "amd-fork"
    if qemu is None or qemu.version >= (9, 1, 0):
        return "upstream"
    return "amd-fork" if "sev-snp-guest" in qemu.objects else "upstream"
