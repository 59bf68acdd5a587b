"""Fake and recorded machine roots for `sevtui caps --sysroot` replays."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
from dataclasses import dataclass, field
from pathlib import Path

DATA = Path(__file__).parent / "data"
SEED_LEAF = (0x0101FD3F, 0x00004173, 0x000001FD, 0x00000080)
_RAW = re.compile(r"0x([0-9a-f]{8}) 0x00: eax=0x(\w+) ebx=0x(\w+) ecx=0x(\w+) edx=0x(\w+)")


def write_cpuid_device(root: Path, leaves: dict[int, tuple[int, int, int, int]]) -> None:
    """A sparse file laid out like /dev/cpu/0/cpuid: registers at offset LEAF."""
    device = root / "dev/cpu/0/cpuid"
    device.parent.mkdir(parents=True, exist_ok=True)
    with device.open("wb") as handle:
        for leaf, regs in leaves.items():
            handle.seek(leaf)
            handle.write(struct.pack("<4I", *regs))


@dataclass
class Machine:
    """What a fake machine root holds."""

    vendor: str = "AuthenticAMD"
    model: str = "AMD EPYC 7713P 64-Core Processor"
    flags: list[str] = field(default_factory=lambda: ["fpu", "svm", "sme", "sev", "sev_es"])
    leaf: tuple[int, int, int, int] | None = SEED_LEAF
    kvm_amd: dict[str, str] | None = field(
        default_factory=lambda: {"sev": "Y", "sev_es": "Y", "sev_snp": "Y"}
    )
    devices: list[str] = field(default_factory=lambda: ["kvm", "sev"])
    cmdline: str = "BOOT_IMAGE=/vmlinuz root=/dev/sda1 mem_encrypt=on kvm_amd.sev=1"
    dmesg: list[str] = field(
        default_factory=lambda: [
            "[    5.1] ccp 0000:22:00.1: SEV firmware update successful",
            "[    5.2] ccp 0000:22:00.1: SEV API:1.55 build:21",
            "[    5.3] ccp 0000:22:00.1: SEV-SNP API:1.55 build:21",
            "[    6.0] kvm_amd: SEV supported: 382 ASIDs",
            "[    6.0] kvm_amd: SEV-ES and SEV-SNP supported: 127 ASIDs",
        ]
    )
    memlock: str = "unlimited"
    iommu: list[str] = field(default_factory=lambda: ["ivhd0"])
    firmware: list[str] = field(default_factory=list)
    """Descriptors from tests/data/firmware, installed with (empty) firmware files."""
    kvm_intel: dict[str, str] | None = None
    tdx_module: dict[str, str] = field(default_factory=dict)
    """Files of /sys/firmware/tdx/tdx_module (vendor TDX kernels)."""

    def build(self, root: Path) -> Path:
        """Write the machine under ROOT and return ROOT."""
        (root / "proc/self").mkdir(parents=True, exist_ok=True)
        (root / "proc/cpuinfo").write_text(
            f"processor\t: 0\nvendor_id\t: {self.vendor}\nmodel name\t: {self.model}\n"
            f"flags\t\t: {' '.join(self.flags)}\n\n"
        )
        (root / "proc/cmdline").write_text(self.cmdline + "\n")
        (root / "proc/self/limits").write_text(
            "Limit                     Soft Limit           Hard Limit           Units\n"
            f"Max locked memory         {self.memlock:<20} {self.memlock:<20} bytes\n"
        )
        (root / "dev").mkdir(exist_ok=True)
        for name in self.devices:
            (root / "dev" / name).touch()
        (root / "dev/kmsg").write_text("\n".join(self.dmesg) + "\n")
        if self.leaf is not None:
            write_cpuid_device(root, {0x80000000: (0x80000023, 0, 0, 0), 0x8000001F: self.leaf})
        if self.kvm_amd is not None:
            params = root / "sys/module/kvm_amd/parameters"
            params.mkdir(parents=True)
            for name, value in self.kvm_amd.items():
                (params / name).write_text(value + "\n")
        iommu = root / "sys/class/iommu"
        iommu.mkdir(parents=True, exist_ok=True)
        for unit in self.iommu:
            (iommu / unit).mkdir()
        for name in self.firmware:
            install_descriptor(root, DATA / "firmware" / name)
        self._intel(root)
        return root

    def _intel(self, root: Path) -> None:
        """kvm_intel's parameters and the TDX module's sysfs files, when the machine has them."""
        if self.kvm_intel is not None:
            params = root / "sys/module/kvm_intel/parameters"
            params.mkdir(parents=True)
            for name, value in self.kvm_intel.items():
                (params / name).write_text(value + "\n")
        if self.tdx_module:
            module = root / "sys/firmware/tdx/tdx_module"
            module.mkdir(parents=True)
            for name, value in self.tdx_module.items():
                (module / name).write_text(value + "\n")


def install_descriptor(root: Path, source: Path) -> None:
    """A firmware descriptor under ROOT/usr/share/qemu/firmware, with the files it names."""
    folder = root / "usr/share/qemu/firmware"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, folder / source.name)
    for entry in json.loads(source.read_text())["mapping"].values():
        name = entry["filename"] if isinstance(entry, dict) else entry
        if isinstance(name, str) and name.startswith("/"):
            target = root / name.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(b"")


def seed_host() -> Machine:
    """The seed's EPYC 7713P host with SEV, SEV-ES and SEV-SNP enabled."""
    return Machine(
        flags=["fpu", "svm", "sme", "sev", "sev_es", "sev_snp"],
        firmware=["debian12/60-edk2-x86_64.json", "60-edk2-x86_64-amdsev.json"],
    )


def kernel_log(name: str) -> list[str]:
    """A recorded kernel log of tests/data/kernel-logs, without its comment lines."""
    text = (DATA / "kernel-logs" / name).read_text()
    return [line for line in text.splitlines() if not line.startswith("#")]


def tdx_host(log: str, kvm_intel_tdx: str = "Y", **changes: object) -> Machine:
    """An Intel Xeon TDX host whose kernel log is the recorded LOG."""
    machine = Machine(
        vendor="GenuineIntel",
        model="Intel(R) Xeon(R) Platinum 8480C",
        flags=["fpu", "vmx", "tme"],
        leaf=None,
        kvm_amd=None,
        devices=["kvm"],
        cmdline="BOOT_IMAGE=/vmlinuz root=/dev/sda1 kvm_intel.tdx=1 nohibernate",
        dmesg=kernel_log(log),
        iommu=["dmar0"],
        firmware=["60-edk2-x86_64-inteltdx.json"],
        kvm_intel={"tdx": kvm_intel_tdx},
    )
    for key, value in changes.items():
        setattr(machine, key, value)
    return machine


def seed_snp_guest() -> Machine:
    """The seed's `sev` guest: EPYC-v4 vCPUs, SEV-SNP active (dmesg from the seed)."""
    return Machine(
        model="AMD EPYC-v4 Processor",
        flags=["fpu", "hypervisor", "sev", "sev_es", "sev_snp"],
        leaf=None,
        kvm_amd=None,
        devices=["sev-guest"],
        cmdline="BOOT_IMAGE=/vmlinuz-5.19.0-41-generic root=LABEL=cloudimg-rootfs",
        dmesg=(DATA / "seed-snp-guest-dmesg.txt").read_text().splitlines(),
        iommu=[],
    )


def seed_normal_guest() -> Machine:
    """The seed's `nosev` guest: same vCPUs, no memory encryption."""
    return Machine(
        model="AMD EPYC-v4 Processor",
        flags=["fpu", "hypervisor"],
        leaf=None,
        kvm_amd=None,
        devices=[],
        cmdline="BOOT_IMAGE=/vmlinuz-5.19.0-41-generic root=LABEL=cloudimg-rootfs",
        dmesg=["[    0.0] Linux version 5.19.0-41-generic"],
        iommu=[],
    )


def recorded(name: str, root: Path) -> Path:
    """Copy a recorded machine from tests/data/sysroots and lay out its cpuid device."""
    shutil.copytree(DATA / "sysroots" / name, root)
    raw = root / "cpuid-raw.txt"
    leaves = {
        int(m.group(1), 16): tuple(int(m.group(i), 16) for i in range(2, 6))
        for m in _RAW.finditer(raw.read_text())
    }
    write_cpuid_device(root, leaves)  # type: ignore[arg-type]
    os.remove(raw)
    return root
