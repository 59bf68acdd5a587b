"""Read what a machine says about memory encryption, under an injectable sysroot.

Everything is read from files below SYSROOT (`/` for this machine), so a bug
report or a test can replay another machine from a folder of copied files.
Nothing here judges; `caps` turns these facts into checks.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from sevtui.host import firmware, kvm, sevplatform
from sevtui.host.cpuid import CpuidReading, read_leaf
from sevtui.host.tdx import TdxFacts, gather_tdx

KVM_AMD_PARAMS = ("sev", "sev_es", "sev_snp")
_LOG_RE = re.compile(
    r"(SEV(-ES|-SNP)? supported|Memory Encryption Features active|SEV: |SEV-SNP|"
    r"ccp .*(sev|SEV)|AMD Memory Encryption|tdx|TDX|ASIDs|RMP|IOMMU SNP)"
)
_LOG_LINES = 80
_CMDLINE_RE = re.compile(r"^(mem_encrypt|kvm_amd\.sev\w*|iommu|amd_iommu|intel_iommu)=")


@dataclass(frozen=True)
class DeviceFacts:
    """A device node: present, accessible, and (for /dev/kvm) its API version."""

    path: str
    present: bool
    char_device: bool = False
    readable: bool = False
    writable: bool = False
    api_version: int | None = None
    problem: str = ""


@dataclass(frozen=True)
class KernelLog:
    """Memory-encryption lines of the kernel log, or why it could not be read."""

    source: str
    lines: tuple[str, ...] = ()
    problem: str = ""


@dataclass
class HostFacts:
    """Raw facts about one machine, each with where it came from."""

    sysroot: Path
    vendor: str = "unknown"
    model: str = "unknown"
    flags: frozenset[str] = frozenset()
    cpuid: CpuidReading = field(default_factory=lambda: CpuidReading(None, "not read"))
    kvm_amd: dict[str, str] | None = None
    devices: dict[str, DeviceFacts] = field(default_factory=dict)
    cmdline: tuple[str, ...] = ()
    kernel_log: KernelLog = field(default_factory=lambda: KernelLog("not read"))
    memlock: tuple[str, str] | None = None
    iommu_units: tuple[str, ...] = ()
    firmware: list[firmware.Descriptor] = field(default_factory=list)
    firmware_dirs: tuple[str, ...] = ()
    """The descriptor folders that exist."""
    family: int | None = None
    """The CPU family (0x19 Milan/Genoa, 0x1A Turin): how a TCB version is laid out."""
    microcode: str = ""
    snp_status: sevplatform.SnpStatus | str = "not read"
    """SNP_PLATFORM_STATUS, or why it could not be read."""
    tdx: TdxFacts = field(default_factory=TdxFacts)
    """kvm_intel's tdx parameter, the TDX module's sysfs and the log's TDX lines."""

    @property
    def sev_log(self) -> sevplatform.SevLog:
        """What the kernel log says of the SEV platform."""
        return sevplatform.read_log(self.kernel_log.lines)

    @property
    def replay(self) -> bool:
        """True when the facts come from another machine's copied files."""
        return self.sysroot != Path("/")


def gather(sysroot: Path = Path("/"), cpuid: CpuidReading | None = None) -> HostFacts:
    """Read every fact from SYSROOT; `cpuid` overrides the leaf (e.g. from a dump file)."""
    facts = HostFacts(sysroot=sysroot)
    cpu = _cpuinfo(sysroot / "proc/cpuinfo")
    facts.vendor, facts.model, facts.flags = cpu.vendor, cpu.model, cpu.flags
    facts.family, facts.microcode = cpu.family, cpu.microcode
    facts.cpuid = cpuid or read_leaf(sysroot)
    facts.kvm_amd = _kvm_amd(sysroot / "sys/module/kvm_amd/parameters")
    for name in ("kvm", "sev", "sev-guest", "tdx_guest"):
        facts.devices[name] = _device(sysroot / "dev" / name, with_api=name == "kvm")
    facts.cmdline = _cmdline(sysroot / "proc/cmdline")
    facts.kernel_log = _kernel_log(sysroot / "dev/kmsg")
    facts.tdx = gather_tdx(sysroot, facts.kernel_log.lines)
    facts.memlock = _memlock(sysroot / "proc/self/limits")
    facts.iommu_units = _listdir(sysroot / "sys/class/iommu")
    dirs = firmware.descriptor_dirs(sysroot, os.environ)
    facts.firmware, _ = firmware.load_descriptors(dirs, sysroot)
    facts.firmware_dirs = tuple(str(folder) for folder in dirs if folder.is_dir())
    if facts.devices["sev"].present:
        facts.snp_status = sevplatform.snp_status(sysroot)
    else:
        facts.snp_status = f"{facts.devices['sev'].path} is not present"
    return facts


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None


@dataclass(frozen=True)
class CpuInfo:
    """The first CPU's entry of /proc/cpuinfo."""

    vendor: str = "unknown"
    model: str = "unknown"
    flags: frozenset[str] = frozenset()
    family: int | None = None
    microcode: str = ""


def _cpuinfo(path: Path) -> CpuInfo:
    text = _read(path) or ""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key = key.strip()
        if sep and key not in values:
            values[key] = value.strip()
        if key == "flags" and values.get("flags") is not None:
            break
    family = values.get("cpu family", "")
    return CpuInfo(
        values.get("vendor_id", "unknown"),
        values.get("model name", "unknown"),
        frozenset(values.get("flags", "").split()),
        int(family) if family.isdigit() else None,
        values.get("microcode", ""),
    )


def _kvm_amd(params: Path) -> dict[str, str] | None:
    if not params.is_dir():
        return None
    found: dict[str, str] = {}
    for name in KVM_AMD_PARAMS:
        value = _read(params / name)
        if value is not None:
            found[name] = value.strip()
    return found


def param_enabled(value: str | None) -> bool:
    """kvm_amd parameters read as 1/Y (on) or 0/N (off)."""
    return value is not None and value.strip().upper() in ("1", "Y")


def _device(path: Path, with_api: bool) -> DeviceFacts:
    try:
        info = path.stat()
    except FileNotFoundError:
        return DeviceFacts(str(path), present=False)
    except OSError as exc:
        return DeviceFacts(str(path), present=False, problem=exc.strerror or str(exc))
    char = stat.S_ISCHR(info.st_mode)
    readable, writable = os.access(path, os.R_OK), os.access(path, os.W_OK)
    api: int | None = None
    problem = ""
    if with_api and char and readable and writable:
        try:
            api = kvm.api_version(path)
        except OSError as exc:
            problem = f"KVM_GET_API_VERSION failed: {exc.strerror or exc}"
    return DeviceFacts(str(path), True, char, readable, writable, api, problem)


def _cmdline(path: Path) -> tuple[str, ...]:
    text = _read(path) or ""
    return tuple(word for word in text.split() if _CMDLINE_RE.match(word))


def _kernel_log(path: Path) -> KernelLog:
    try:
        info = path.stat()
    except OSError:
        return KernelLog(str(path), problem="not present")
    if stat.S_ISCHR(info.st_mode):
        return _read_kmsg(path)
    text = _read(path)
    if text is None:
        return KernelLog(str(path), problem="cannot read")
    return KernelLog(str(path), _relevant(text.splitlines()))


def _read_kmsg(path: Path) -> KernelLog:
    """Read /dev/kmsg records from the start without blocking."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        reason = "permission denied (kernel.dmesg_restrict)" if exc.errno == errno.EPERM else ""
        return KernelLog(str(path), problem=reason or exc.strerror or str(exc))
    messages: list[str] = []
    try:
        while True:
            try:
                record = os.read(fd, 8192)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.EPIPE:
                    continue
                break
            if not record:
                break
            _, _, message = record.decode(errors="replace").partition(";")
            messages.append(message.splitlines()[0] if message else "")
    finally:
        os.close(fd)
    return KernelLog(str(path), _relevant(messages))


def _relevant(lines: list[str]) -> tuple[str, ...]:
    return tuple(line.strip() for line in lines if _LOG_RE.search(line))[:_LOG_LINES]


def _memlock(path: Path) -> tuple[str, str] | None:
    for line in (_read(path) or "").splitlines():
        if line.startswith("Max locked memory"):
            parts = line.split()
            return parts[3], parts[4]
    return None


def _listdir(path: Path) -> tuple[str, ...]:
    try:
        return tuple(sorted(os.listdir(path)))
    except OSError:
        return ()
