"""What a guest itself says about its memory encryption, recorded with every run.

A profile configured as sev-snp or tdx proves nothing by its name: the guest kernel's own
`Memory Encryption Features active: AMD SEV SEV-ES SEV-SNP` (or `Intel TDX`) line, its
`tdx: Guest detected` line, its CPU flags and its attestation interfaces (/dev/sev-guest,
/dev/tdx_guest, configfs-tsm) do. A mode that cannot be
established is `inconclusive` with the reason, never assumed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sevtui.base.tagged import tagged_values

PREFIX = "sevtui-word."
SCRIPT = (
    "log=$(dmesg 2>/dev/null || sudo -n dmesg 2>/dev/null); "
    f'echo "{PREFIX}log_lines=$(printf "%s\\n" "$log" | grep -c .)"; '
    f'echo "{PREFIX}boot=$(printf "%s\\n" "$log" | grep -c "Linux version")"; '
    f'printf "%s\\n" "$log" | grep "Memory Encryption Features active" | tail -n 1 '
    f'| sed "s/.*Memory Encryption Features active:[[:space:]]*/{PREFIX}active=/"; '
    f'echo "{PREFIX}flags=$(grep -m 1 "^flags" /proc/cpuinfo | tr " " "\\n" '
    '| grep -E "^(sev|sev_es|sev_snp|tdx_guest)$" | tr "\\n" " ")"; '
    f'printf "%s\\n" "$log" | grep -q "tdx: Guest detected" && echo "{PREFIX}tdx_detected=1"; '
    f'printf "%s\\n" "$log" | grep "software IO TLB: mapped" | tail -n 1 '
    f'| sed "s/.*software IO TLB: /{PREFIX}swiotlb=/"; '
    f'grep -q "swiotlb=force" /proc/cmdline && echo "{PREFIX}swiotlb_forced=1"; '
    f'echo "{PREFIX}idle=$(cat /sys/devices/system/cpu/cpuidle/current_driver 2>/dev/null)"; '
    f'[ -e /dev/sev-guest ] && echo "{PREFIX}sev_guest=1"; '
    f'[ -e /dev/tdx_guest ] && echo "{PREFIX}tdx_guest=1"; '
    f'[ -d /sys/kernel/config/tsm/report ] && echo "{PREFIX}tsm=1"; true'
)


@dataclass(frozen=True)
class GuestWord:
    """The guest's own evidence: kernel line, CPU flags, attestation interfaces."""

    active: str | None
    log_lines: int
    boot_lines: int
    cpu_flags: tuple[str, ...]
    sev_guest: bool
    tsm_report: bool
    swiotlb: str = ""
    """The kernel's `software IO TLB: mapped [mem ...] (64MB)` line (bounce buffers)."""
    swiotlb_forced: bool = False
    idle_driver: str = ""
    """The guest's cpuidle driver (acpi_idle, haltpoll, none...)."""
    tdx_detected: bool = False
    """The kernel's `tdx: Guest detected` line."""
    tdx_guest: bool = False
    """/dev/tdx_guest, the TD's report interface."""

    def confirmed(self) -> tuple[str, str]:
        """(mode, why): none, sev, sev-es, sev-snp, tdx, or inconclusive."""
        if self.active is not None:
            mode = _mode_of(self.active.split())
            if mode == "none":
                return "none", (
                    f"the guest kernel reports {self.active!r}, which is neither AMD SEV nor "
                    "Intel TDX"
                )
            return mode, f"guest kernel: Memory Encryption Features active: {self.active}"
        flags_mode = _mode_of([_FLAG_WORDS[f] for f in self.cpu_flags])
        if flags_mode != "none":
            return flags_mode, f"guest /proc/cpuinfo flags: {' '.join(self.cpu_flags)}"
        if self.tdx_detected:
            return "tdx", "guest kernel: tdx: Guest detected"
        if self.log_lines == 0:
            return "inconclusive", "the guest's kernel log could not be read (dmesg)"
        if self.boot_lines == 0:
            return "inconclusive", "the guest's kernel log no longer holds its boot messages"
        return "none", "the guest kernel's boot log has no 'Memory Encryption Features' line"

    def to_json(self) -> dict[str, Any]:
        """What is stored with the run target."""
        mode, why = self.confirmed()
        return {
            "confirmed_mode": mode,
            "confirmed_reason": why,
            "memory_encryption_active": self.active,
            "cpu_sev_flags": list(self.cpu_flags),
            "dev_sev_guest": self.sev_guest,
            "configfs_tsm_report": self.tsm_report,
            "swiotlb": self.swiotlb or None,
            "swiotlb_forced": self.swiotlb_forced,
            "idle_driver": self.idle_driver or None,
            "tdx_detected": self.tdx_detected,
            "dev_tdx_guest": self.tdx_guest,
        }


_FLAG_WORDS = {"sev": "SEV", "sev_es": "SEV-ES", "sev_snp": "SEV-SNP", "tdx_guest": "TDX"}
"""The CPU flags a confidential guest shows, as the kernel's line words them."""


def _mode_of(words: list[str]) -> str:
    for mode, word in (
        ("sev-snp", "SEV-SNP"),
        ("sev-es", "SEV-ES"),
        ("sev", "SEV"),
        ("tdx", "TDX"),
    ):
        if word in words:
            return mode
    return "none"


def parse(output: str) -> GuestWord:
    """Read SCRIPT's output."""
    values = tagged_values(output, PREFIX)
    return GuestWord(
        active=values.get("active"),
        log_lines=_count(values.get("log_lines")),
        boot_lines=_count(values.get("boot")),
        cpu_flags=tuple(flag for flag in values.get("flags", "").split() if flag in _FLAG_WORDS),
        sev_guest=values.get("sev_guest") == "1",
        tsm_report=values.get("tsm") == "1",
        swiotlb=values.get("swiotlb", ""),
        swiotlb_forced=values.get("swiotlb_forced") == "1",
        idle_driver=values.get("idle", ""),
        tdx_detected=values.get("tdx_detected") == "1",
        tdx_guest=values.get("tdx_guest") == "1",
    )


def _count(text: str | None) -> int:
    return int(text) if text and text.isdigit() else 0
