"""One call that reads this (or a replayed) machine and judges it."""

from __future__ import annotations

from pathlib import Path

from sevtui.base.errors import SevtuiError
from sevtui.config import Config
from sevtui.host import kvm
from sevtui.host.caps import CapabilityReport, assess
from sevtui.host.cpuid import CpuidReading, parse_cpuid_text
from sevtui.host.facts import gather
from sevtui.host.qemu import QemuInfo, probe_qemu


def read_cpuid_file(path: Path) -> CpuidReading:
    """Leaf 0x8000001F from a saved `cpuid` dump."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise SevtuiError(
            f"cannot read CPUID dump {path}: {exc.strerror or exc}",
            "pass a file holding output of `cpuid -1 -r` or `cpuid -1 -l 0x8000001f`",
        ) from None
    return CpuidReading(parse_cpuid_text(text, str(path)), str(path))


def inspect_host(
    config: Config,
    sysroot: Path = Path("/"),
    cpuid_file: Path | None = None,
    probe_guest: kvm.ProbeGuest | None = None,
) -> CapabilityReport:
    """Gather facts (live or replayed), probe QEMU and KVM when live, and assess.

    PROBE_GUEST (the built minimal guest) lets the KVM probe boot a real kernel.
    """
    cpuid = read_cpuid_file(cpuid_file) if cpuid_file else None
    facts = gather(sysroot, cpuid)
    if facts.replay:
        return assess(facts, None, None)
    qemu: QemuInfo | str
    try:
        qemu = probe_qemu(config.qemu.binary)
    except SevtuiError as exc:
        qemu = exc.message
    device = facts.devices["kvm"]
    if isinstance(qemu, str):
        accel = kvm.KvmVerdict(False, f"KVM not probed: {qemu}")
    elif config.qemu.accel == "tcg":
        accel = kvm.KvmVerdict(False, "KVM not probed: qemu.accel = tcg in the config")
    elif not (device.present and device.readable and device.writable):
        accel = kvm.KvmVerdict(False, f"{device.path} missing or not accessible")
    else:
        accel = kvm.probe_kvm(qemu.path, probe_guest, config.paths.state_dir)
    return assess(facts, qemu, accel, config.qemu.snp_dialect)
