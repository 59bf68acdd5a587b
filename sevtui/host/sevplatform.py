"""The SEV platform's own word: SNP_PLATFORM_STATUS from the AMD Secure Processor through
/dev/sev, and what the kernel log says of ASIDs, the RMP table, IOMMU SNP support, the
firmware's API versions and INIT failures (the facts `snphost ok` checks).

Decoders take bytes and log lines, so a test (or `caps --sysroot`) replays a recorded
machine; a replay reads the status reply from RECORDED_STATUS under its sysroot.
"""

from __future__ import annotations

import fcntl
import os
import re
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sevtui.host.tcb import TURIN_FAMILY, Tcb

SEV_ISSUE_CMD = 0xC0105300
"""_IOWR('S', 0, struct sev_issue_cmd): {u32 cmd; u64 data; u32 error} packed, 16 bytes."""
SNP_PLATFORM_STATUS = 9
STATUS_FORMAT = "<BBBBIIIQQ"
"""struct sev_user_data_snp_status (linux/psp-sev.h), packed: 32 bytes."""
RECORDED_STATUS = "sevtui-recorded/snp-platform-status.bin"
SNP_MIN_API = (1, 51)
"""The oldest SNP firmware Linux initialises ("requires firmware version >= 1:51")."""
_FW_ERRORS = {
    0x1: "INVALID_PLATFORM_STATE",
    0x3: "INVALID_CONFIG",
    0x13: "HWERROR_PLATFORM",
    0x15: "UNSUPPORTED",
    0x16: "INVALID_PARAM",
    0x17: "RESOURCE_LIMIT",
}


def decode_tcb(raw: int, family: int | None) -> Tcb:
    """RAW laid out as this CPU family's TCB (Turin, family 0x1A, puts the FMC first)."""
    return Tcb.decode(raw, family == TURIN_FAMILY)


@dataclass(frozen=True)
class SnpStatus:
    """The SNP_PLATFORM_STATUS reply."""

    api: tuple[int, int]
    build: int
    state: str
    rmp_initialized: bool
    guest_count: int
    current_tcb: int
    reported_tcb: int
    mask_chip_id: bool
    mask_chip_key: bool
    vlek: bool
    ciphertext_hiding: str

    def to_json(self) -> dict[str, Any]:
        """JSON form (TCBs as hex, as `snphost show tcb` prints them)."""
        data = asdict(self)
        data.update(
            api=f"{self.api[0]}.{self.api[1]}",
            current_tcb=f"{self.current_tcb:#018x}",
            reported_tcb=f"{self.reported_tcb:#018x}",
        )
        return data


def decode_snp_status(data: bytes) -> SnpStatus:
    """The 32 bytes of struct sev_user_data_snp_status; ValueError for any other size."""
    if len(data) != struct.calcsize(STATUS_FORMAT):
        raise ValueError(f"an SNP platform status is 32 bytes, not {len(data)}")
    major, minor, state, rmp, build, flags, guests, current, reported = struct.unpack(
        STATUS_FORMAT, data
    )
    hiding = "enabled" if flags >> 6 & 1 else "capable" if flags >> 5 & 1 else "not supported"
    return SnpStatus(
        (major, minor),
        build,
        {0: "UNINIT", 1: "INIT"}.get(state, f"unknown ({state})"),
        bool(rmp & 1),
        guests,
        current,
        reported,
        bool(flags & 1),
        bool(flags >> 1 & 1),
        bool(flags >> 2 & 1),
        hiding,
    )


def snp_status(sysroot: Path) -> SnpStatus | str:
    """The platform's SNP status, or why it could not be read (a replay reads
    RECORDED_STATUS; this machine asks /dev/sev, which needs root)."""
    if sysroot != Path("/"):
        recorded = sysroot / RECORDED_STATUS
        try:
            return decode_snp_status(recorded.read_bytes())
        except OSError:
            return f"not recorded ({RECORDED_STATUS} is not in the sysroot)"
        except ValueError as exc:
            return f"{recorded}: {exc}"
    return _ask_firmware(Path("/dev/sev"))


def _ask_firmware(device: Path) -> SnpStatus | str:
    import ctypes

    try:
        fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        return f"{device}: {exc.strerror or exc}"
    reply = ctypes.create_string_buffer(struct.calcsize(STATUS_FORMAT))
    command = bytearray(struct.pack("<IQI", SNP_PLATFORM_STATUS, ctypes.addressof(reply), 0))
    try:
        fcntl.ioctl(fd, SEV_ISSUE_CMD, command)
    except OSError as exc:
        error = struct.unpack("<IQI", bytes(command))[2]
        said = f", firmware error {error:#x} {_FW_ERRORS.get(error, '')}".rstrip() if error else ""
        return f"SNP_PLATFORM_STATUS failed: {exc.strerror or exc}{said}"
    finally:
        os.close(fd)
    return decode_snp_status(reply.raw)


_ENABLED = re.compile(r"\b(SEV(?:-ES|-SNP)?) (enabled|disabled|unusable) \(ASIDs (\d+) - (\d+)\)")
_SUPPORTED = re.compile(r"\b(SEV(?:-ES)?(?: and SEV-SNP)?) supported: (\d+) ASIDs")
_API = re.compile(r"\b(SEV|SEV-SNP) API:(\d+)\.(\d+) build:(\d+)")
_RMP = re.compile(
    r"RMP table physical (?:range|address) \[?(0x[0-9a-fA-F]+) - (0x[0-9a-fA-F]+)\]?"
    r"|Segmented RMP base table physical range \[(0x[0-9a-fA-F]+) - (0x[0-9a-fA-F]+)\]"
)
_FAILURES = re.compile(
    r"(SEV(?:-SNP)?: failed to INIT.*|SEV-SNP support requires firmware version.*|"
    r"SNP initialization failed.*|ccp initialization failed|"
    r"RMP table has not been reserved by BIOS|Memory for the RMP table has not been reserved"
    r".*)"
)


@dataclass(frozen=True)
class SevLog:
    """What the kernel log says of the SEV platform (empty where it says nothing)."""

    asids: dict[str, int] = field(default_factory=dict)
    """sev, sev-es, sev-snp -> ASIDs kvm_amd gave that kind (0: none, or not enabled)."""
    asid_text: str = ""
    api: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    """SEV / SEV-SNP -> (major, minor, build) as ccp announced it."""
    rmp: str = ""
    rmp_missing: bool = False
    iommu_snp: bool = False
    failures: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """JSON form, for caps --json and a run's provenance."""
        data = asdict(self)
        data["api"] = {k: f"{v[0]}.{v[1]} build {v[2]}" for k, v in self.api.items()}
        return data


def read_log(lines: tuple[str, ...] | list[str]) -> SevLog:
    """Parse the kernel log's SEV lines (mainline and older wordings)."""
    enabled: dict[str, tuple[int, int, str]] = {}
    supported: dict[str, int] = {}
    api: dict[str, tuple[int, int, int]] = {}
    rmp, missing, iommu, failures = "", False, False, []
    for line in lines:
        for kind, state, first, last in _ENABLED.findall(line):
            enabled[kind.lower()] = (int(first), int(last), state)
        for kinds, count in _SUPPORTED.findall(line):
            for kind in ("sev-es", "sev-snp") if "ES" in kinds else ("sev",):
                supported[kind] = int(count)
        for name, major, minor, build in _API.findall(line):
            api[name] = (int(major), int(minor), int(build))
        if match := _RMP.search(line):
            start, end = match.group(1, 2) if match.group(1) else match.group(3, 4)
            rmp = f"{start} - {end}"
        if "IOMMU SNP support enabled" in line:
            iommu = True
        if found := _FAILURES.search(line):
            failures.append(found.group(1).strip())
            missing = missing or "not been reserved" in line
    asids, text = _asids(enabled, supported)
    return SevLog(asids, text, api, rmp, missing, iommu, tuple(dict.fromkeys(failures)))


def _asids(
    enabled: dict[str, tuple[int, int, str]], supported: dict[str, int]
) -> tuple[dict[str, int], str]:
    """ASIDs per kind kvm_amd announced. Mainline prints `SEV-ES enabled (ASIDs 1 - 99)`
    per kind (a kind without a line is not known: the excerpt may be partial; SNP guests
    use SEV-ES ASIDs); older kernels print `SEV supported: 410 ASIDs` and a SEV-ES line
    only when SEV-ES is supported, so its absence there means none."""
    if enabled:
        counts = {
            k: max(0, b - a + 1) if state == "enabled" else 0
            for k, (a, b, state) in enabled.items()
        }
        if "sev-snp" in counts:
            counts["sev-es"] = max(counts.get("sev-es", 0), counts["sev-snp"])
        text = ", ".join(
            f"{k.upper()} {state} {a}-{b} ({counts[k]})"
            for k, (a, b, state) in sorted(enabled.items())
        )
        return counts, text
    if supported:
        counts = {"sev-es": 0, "sev-snp": 0, **supported}
        return counts, ", ".join(f"{k.upper()} {n}" for k, n in sorted(supported.items()))
    return {}, ""


def firmware_error(failure: str) -> str:
    """`error 0x3` in a failure line, named (`0x3 INVALID_CONFIG`), else empty."""
    found = re.search(r"error (0x[0-9a-fA-F]+)", failure)
    if not found:
        return ""
    code = int(found.group(1), 16)
    return f"{code:#x} {_FW_ERRORS.get(code, '')}".strip()
