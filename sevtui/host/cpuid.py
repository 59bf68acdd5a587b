"""CPUID leaf 0x8000001F (AMD memory encryption): read it, parse dumps of it, decode it."""

from __future__ import annotations

import ctypes
import mmap
import os
import platform
import re
import struct
from dataclasses import asdict, dataclass
from pathlib import Path

from sevtui.base.errors import UsageError

LEAF = 0x8000001F
EXT_MAX_LEAF = 0x80000000

# EAX bit -> (json key, the name `cpuid -1 -l 0x8000001f` prints), per AMD APM vol. 3.
EAX_BITS: dict[int, tuple[str, str]] = {
    0: ("sme", "SME: secure memory encryption support"),
    1: ("sev", "SEV: secure encrypted virtualize support"),
    2: ("page_flush_msr", "VM page flush MSR support"),
    3: ("sev_es", "SEV-ES: SEV encrypted state support"),
    4: ("sev_snp", "SEV-SNP: SEV secure nested paging"),
    5: ("vmpl", "VMPL: VM permission levels"),
    6: ("rmpquery", "RMPQUERY instruction support"),
    7: ("vmpl_sss", "VMPL supervisor shadow stack support"),
    8: ("secure_tsc", "Secure TSC supported"),
    9: ("tsc_aux_virtualization", "virtual TSC_AUX supported"),
    10: ("hw_cache_coherency", "hardware cache coher across enc domains"),
    11: ("host_64bit_only", "SEV guest exec only from 64-bit host"),
    12: ("restricted_injection", "restricted injection"),
    13: ("alternate_injection", "alternate injection"),
    14: ("debug_swap", "full debug state swap for SEV-ES guests"),
    15: ("prevent_host_ibs", "disallowing IBS use by host"),
    16: ("vte", "VTE: SEV virtual transparent encryption"),
    17: ("vmgexit_parameter", "VMGEXIT parameter support"),
    18: ("virtual_tom_msr", "virtual TOM MSR support"),
    19: ("ibs_virtualization", "IBS virtualization for SEV-ES guests"),
    24: ("vmsa_reg_prot", "VMSA register protection"),
    25: ("smt_protection", "SMT protection supported"),
    28: ("svsm_comm_page_msr", "SVSM communication page MSR support"),
    29: ("nested_virt_snp_msr", "VIRT_RMPUPDATE & VIRT_PSMASH MSR support"),
}


@dataclass(frozen=True)
class Leaf8000001F:
    """The four registers of leaf 0x8000001F and what they say."""

    eax: int
    ebx: int
    ecx: int
    edx: int

    def has(self, key: str) -> bool:
        """Whether the EAX feature bit named `key` (e.g. 'sev_snp') is set."""
        for bit, (name, _) in EAX_BITS.items():
            if name == key:
                return bool(self.eax >> bit & 1)
        raise KeyError(key)

    @property
    def cbitpos(self) -> int:
        """Page-table bit that marks a page encrypted (EBX[5:0])."""
        return self.ebx & 0x3F

    @property
    def phys_addr_reduction(self) -> int:
        """Physical address bits lost when memory encryption is on (EBX[11:6])."""
        return self.ebx >> 6 & 0x3F

    @property
    def vmpl_count(self) -> int:
        """Number of VM permission levels (EBX[15:12])."""
        return self.ebx >> 12 & 0xF

    @property
    def max_encrypted_guests(self) -> int:
        """Encrypted guests supported at once (ECX)."""
        return self.ecx

    @property
    def min_sev_asid(self) -> int:
        """Lowest ASID usable by an SEV (non-ES) guest (EDX)."""
        return self.edx

    def to_json(self) -> dict[str, int | bool]:
        """The JSON form: raw registers, one boolean per named bit, decoded fields."""
        data: dict[str, int | bool] = dict(asdict(self))
        for bit, (name, _) in EAX_BITS.items():
            data[name] = bool(self.eax >> bit & 1)
        data.update(
            cbitpos=self.cbitpos,
            phys_addr_reduction=self.phys_addr_reduction,
            vmpl_count=self.vmpl_count,
            max_encrypted_guests=self.max_encrypted_guests,
            min_sev_asid=self.min_sev_asid,
        )
        return data


@dataclass(frozen=True)
class CpuidReading:
    """A leaf read from somewhere, or why it could not be read."""

    leaf: Leaf8000001F | None
    source: str
    problem: str = ""


def read_leaf(sysroot: Path = Path("/")) -> CpuidReading:
    """Leaf 0x8000001F from SYSROOT/dev/cpu/0/cpuid, else by executing CPUID.

    A regular (sparse) file at that path replays another machine: registers
    sit at byte offset LEAF, exactly as the cpuid device serves them.
    """
    device = sysroot / "dev/cpu/0/cpuid"
    if device.exists():
        try:
            return _from_registers(
                _pread_regs(device, EXT_MAX_LEAF), _pread_regs(device, LEAF), str(device)
            )
        except OSError as exc:
            if sysroot != Path("/"):
                return CpuidReading(None, str(device), f"cannot read: {exc.strerror or exc}")
    elif sysroot != Path("/"):
        return CpuidReading(None, str(device), "not present in the sysroot")
    try:
        return _from_registers(
            execute_cpuid(EXT_MAX_LEAF), execute_cpuid(LEAF), "CPUID instruction"
        )
    except OSError as exc:
        return CpuidReading(None, "CPUID instruction", str(exc))


def _from_registers(
    max_regs: tuple[int, int, int, int], regs: tuple[int, int, int, int], source: str
) -> CpuidReading:
    max_leaf = max_regs[0]
    if max_leaf < LEAF:
        return CpuidReading(
            None, source, f"leaf 0x8000001F not offered (highest extended leaf {max_leaf:#x})"
        )
    return CpuidReading(Leaf8000001F(*regs), source)


def _pread_regs(device: Path, leaf: int) -> tuple[int, int, int, int]:
    fd = os.open(device, os.O_RDONLY)
    try:
        data = os.pread(fd, 16, leaf)
    finally:
        os.close(fd)
    if len(data) != 16:
        raise OSError(f"short read at leaf {leaf:#x}")
    eax, ebx, ecx, edx = struct.unpack("<4I", data)
    return eax, ebx, ecx, edx


# push rbx; mov eax,edi; mov ecx,esi; mov r8,rdx; cpuid;
# mov [r8],eax; mov [r8+4],ebx; mov [r8+8],ecx; mov [r8+12],edx; pop rbx; ret
_CPUID_CODE = bytes.fromhex("53 89f8 89f1 4989d0 0fa2 418900 41895804 41894808 4189500c 5b c3")


def execute_cpuid(leaf: int, subleaf: int = 0) -> tuple[int, int, int, int]:
    """Run the CPUID instruction (x86-64 only) without the cpuid tool or a C compiler."""
    if platform.machine() not in ("x86_64", "AMD64"):
        raise OSError(f"CPUID needs an x86-64 CPU, this is {platform.machine()}")
    try:
        page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    except OSError as exc:
        raise OSError(f"cannot map executable memory for CPUID: {exc}") from None
    page.write(_CPUID_CODE)
    address = ctypes.addressof(ctypes.c_char.from_buffer(page))
    prototype = ctypes.CFUNCTYPE(None, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_void_p)
    out = (ctypes.c_uint32 * 4)()
    prototype(address)(leaf, subleaf, ctypes.addressof(out))
    return out[0], out[1], out[2], out[3]


_RAW_RE = re.compile(
    r"0x8000001f\s+0x00:"
    r"\s+eax=(0x[0-9a-f]+)\s+ebx=(0x[0-9a-f]+)\s+ecx=(0x[0-9a-f]+)\s+edx=(0x[0-9a-f]+)",
    re.IGNORECASE,
)
_DECODED_LINE_RE = re.compile(r"^\s*(.+?)\s*=\s*(true|false|0x[0-9a-f]+(?:\s*\(\d+\))?)\s*$", re.I)
_DECODED_FIELDS = {
    "encryption bit position in PTE": (0, 0x3F),
    "physical address space width reduction": (6, 0x3F),
    "number of VM permission levels": (12, 0xF),
}


def parse_cpuid_text(text: str, origin: str = "input") -> Leaf8000001F:
    """Leaf 0x8000001F from `cpuid -1 -r` output or `cpuid -1 -l 0x8000001f` text."""
    raw = _RAW_RE.search(text)
    if raw:
        eax, ebx, ecx, edx = (int(group, 16) for group in raw.groups())
        return Leaf8000001F(eax, ebx, ecx, edx)
    if "0x8000001f" not in text.lower():
        raise UsageError(
            f"{origin}: no CPUID leaf 0x8000001F found",
            "give output of `cpuid -1 -r` or `cpuid -1 -l 0x8000001f`",
        )
    return _parse_decoded(text, origin)


def _parse_decoded(text: str, origin: str) -> Leaf8000001F:
    names = {label.lower(): bit for bit, (_, label) in EAX_BITS.items()}
    eax = ebx = ecx = edx = 0
    seen = 0
    for line in text.splitlines():
        match = _DECODED_LINE_RE.match(line)
        if not match:
            continue
        label, value = match.group(1).strip(), match.group(2).lower()
        if label.lower() in names:
            seen += 1
            if value == "true":
                eax |= 1 << names[label.lower()]
            continue
        number = int(value.split()[0], 16) if value.startswith("0x") else None
        if number is None:
            continue
        if label in _DECODED_FIELDS:
            shift, mask = _DECODED_FIELDS[label]
            ebx |= (number & mask) << shift
            seen += 1
        elif label == "number of SEV-enabled guests supported":
            ecx, seen = number, seen + 1
        elif label == "minimum SEV guest ASID":
            edx, seen = number, seen + 1
    if seen == 0:
        raise UsageError(
            f"{origin}: found a 0x8000001f heading but no fields under it",
            "give the full output of `cpuid -1 -l 0x8000001f` or `cpuid -1 -r`",
        )
    return Leaf8000001F(eax, ebx, ecx, edx)
