"""Intel TDX on a host: what kvm_intel, the TDX module's sysfs and the kernel log say.

Mainline kernels print `virt/tdx: ...`; older and vendor kernels `tdx: ...`, and their
wording differs (`TDX module initialized.`, `TDX-Module initialized`): the parser takes
each, as recorded from real hosts (tests/data/kernel-logs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_PREFIX = r"(?:virt/)?tdx: "
_KEYIDS = re.compile(_PREFIX + r"BIOS enabled: private KeyID range (\[\d+, \d+\))")
_NOT_ENABLED = re.compile(_PREFIX + r"(not enabled by BIOS|Cannot enable TDX on TDX disabled)")
_MODULE = re.compile(
    _PREFIX + r"TDX module: at+ributes (\S+), vendor_id \S+, major_version (\d+), "
    r"minor_version (\d+), build_date (\d+), build_num (\d+)"
)
_VERSION = re.compile(_PREFIX + r"(?:TDX )?module vers[io]+n: ([\d.]+)")
_INITIALIZED = re.compile(_PREFIX + r"(?:TDX[- ])?[Mm]odule initialized")
_FAILED = re.compile(
    r"(" + _PREFIX + r"((?:module )?initialization failed.*|SEAMCALL.*failed.*|"
    r"(?:TDX )?module not loaded.*)|kvm_intel: Failed to initialize TDX module.*)"
)
MODULE_SYSFS = "sys/firmware/tdx/tdx_module"
MODULE_FILES = ("status", "attributes", "major_version", "minor_version", "build_num", "build_date")


@dataclass(frozen=True)
class TdxLog:
    """The TDX lines of a host's kernel log, read into what they establish."""

    keyids: str = ""
    """The private KeyID range the BIOS reserved (`[32, 64)`); empty when not said."""
    not_enabled: str = ""
    """The line saying the BIOS did not enable TDX."""
    module: str = ""
    """The TDX module's version in words, when the log names it."""
    initialized: bool = False
    failure: str = ""
    """The first line saying the module's initialization failed."""
    lines: tuple[str, ...] = ()


def read_log(lines: tuple[str, ...]) -> TdxLog:
    """What the kernel log LINES say about TDX on this host."""
    mine = tuple(line for line in lines if re.search(_PREFIX + "|kvm_intel: .*TDX", line))
    keyids = _first(_KEYIDS, mine)
    module = ""
    for line in mine:
        if found := _MODULE.search(line):
            _attrs, major, minor, date, build = found.groups()
            module = f"{major}.{minor} build {build} ({date})"
            break
        if found := _VERSION.search(line):
            module = found.group(1)
    failure = next((line for line in mine if _FAILED.search(line)), "")
    not_enabled = next((line for line in mine if _NOT_ENABLED.search(line)), "")
    return TdxLog(
        keyids.group(1) if keyids else "",
        not_enabled,
        module,
        any(_INITIALIZED.search(line) for line in mine),
        failure,
        mine,
    )


def _first(pattern: re.Pattern[str], lines: tuple[str, ...]) -> re.Match[str] | None:
    return next((found for line in lines if (found := pattern.search(line))), None)


@dataclass(frozen=True)
class TdxFacts:
    """kvm_intel's `tdx` parameter (None: kvm_intel not loaded, or no such parameter in
    this kernel), the TDX module's sysfs files (vendor kernels), and the log."""

    kvm_intel_loaded: bool = False
    kvm_intel_tdx: str | None = None
    module_sysfs: dict[str, str] = field(default_factory=dict)
    log: TdxLog = field(default_factory=TdxLog)

    def to_json(self) -> dict[str, object]:
        """The TDX facts `caps --json` prints and a run stores."""
        return {
            "kvm_intel_tdx": self.kvm_intel_tdx,
            "module_sysfs": self.module_sysfs,
            "keyids": self.log.keyids,
            "module": self.log.module,
            "initialized": self.log.initialized,
            "failure": self.log.failure,
        }


def gather_tdx(sysroot: Path, kernel_lines: tuple[str, ...]) -> TdxFacts:
    """The TDX facts of the machine at SYSROOT, with its kernel log's relevant lines."""
    params = sysroot / "sys/module/kvm_intel/parameters"
    module = sysroot / MODULE_SYSFS
    found = {}
    for name in MODULE_FILES:
        text = _read(module / name)
        if text is not None:
            found[name] = text
    return TdxFacts(
        params.is_dir(),
        _read(params / "tdx"),
        found,
        read_log(kernel_lines),
    )


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return None
