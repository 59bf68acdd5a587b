"""Firmware chosen the way QEMU and libvirt define it: from firmware descriptor files.

QEMU's `docs/interop/firmware.json` describes each installed firmware build in a JSON
file: what it maps (`flash` with an NVRAM template, or a single `memory` image), the
machine types it fits, and features such as `amd-sev-snp`. Descriptors live in
/usr/share/qemu/firmware, /etc/qemu/firmware and $XDG_CONFIG_HOME/qemu/firmware; a file in
a later folder replaces one of the same name in an earlier one, and the survivors are
taken in file-name order (libvirt's rules).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from sevtui.base.kinds import SnpDialect, VmKind

MAX_DESCRIPTOR_BYTES = 64 * 1024
SYSTEM_DIRS = ("usr/share/qemu/firmware", "etc/qemu/firmware")
KIND_FEATURE: dict[VmKind, str] = {
    "sev": "amd-sev",
    "sev-es": "amd-sev-es",
    "sev-snp": "amd-sev-snp",
    "tdx": "intel-tdx",
}
INTELTDX_PACKAGES = (
    "install the IntelTdx OVMF build (Debian: ovmf-inteltdx, in sid; Ubuntu >= 25.10: ovmf, "
    "which ships OVMF.inteltdx.fd) or set vm.NAME.firmware"
)
AMDSEV_PACKAGES = (
    "install the AmdSev OVMF build (Debian: ovmf-amdsev, in sid; Ubuntu >= 25.04: ovmf, "
    "which ships OVMF.amdsev.fd; Fedora: edk2-ovmf) or set vm.NAME.firmware"
)
OVMF_PACKAGES = "install OVMF (Debian/Ubuntu: apt-get install ovmf) or set vm.NAME.firmware"
_MACHINE_FAMILIES = {"q35": "pc-q35-", "pc": "pc-i440fx-"}


@dataclass(frozen=True)
class Descriptor:
    """One firmware descriptor file, reduced to what choosing firmware needs."""

    source: Path
    description: str
    device: str
    executable: Path | None
    nvram_template: Path | None
    machines: tuple[str, ...]
    features: frozenset[str]
    interfaces: frozenset[str]
    sysroot: Path = Path("/")

    @property
    def files_exist(self) -> bool:
        """True when the firmware (and its NVRAM template) are installed (under the sysroot)."""
        files = [self.executable, self.nvram_template if self.device == "flash" else None]
        return self.executable is not None and all(
            (self.sysroot / f.relative_to(f.anchor)).is_file() for f in files if f is not None
        )


@dataclass(frozen=True)
class FirmwareChoice:
    """The firmware a VM kind boots with, or why there is none (`problem`)."""

    code: Path | None = None
    vars_template: Path | None = None
    as_bios: bool = False
    descriptor: Path | None = None
    problem: str = ""

    def to_json(self) -> dict[str, Any]:
        """The JSON shape used by `caps --json` and `vm argv --json`."""
        if self.problem:
            return {"file": None, "problem": self.problem}
        return {
            "file": str(self.code) if self.code else None,
            "nvram_template": str(self.vars_template) if self.vars_template else None,
            "device": "memory" if self.as_bios else "flash",
            "descriptor": str(self.descriptor) if self.descriptor else None,
        }


def descriptor_dirs(sysroot: Path, environ: Mapping[str, str]) -> list[Path]:
    """Where descriptors are read from, lowest precedence first (the user's only live)."""
    dirs = [sysroot / folder for folder in SYSTEM_DIRS]
    if sysroot == Path("/"):
        config_home = environ.get("XDG_CONFIG_HOME") or os.path.join(
            environ.get("HOME", "/root"), ".config"
        )
        dirs.append(Path(config_home) / "qemu" / "firmware")
    return dirs


def load_descriptors(
    dirs: list[Path], sysroot: Path = Path("/")
) -> tuple[list[Descriptor], list[str]]:
    """Descriptors from DIRS (later folders win by file name), in file-name order.

    Firmware files named in them are looked for below SYSROOT. Returns the descriptors and
    one line per file that could not be used.
    """
    chosen: dict[str, Path] = {}
    for folder in dirs:
        try:
            names = sorted(entry.name for entry in folder.iterdir() if entry.suffix == ".json")
        except OSError:
            continue
        for name in names:
            chosen[name] = folder / name
    descriptors: list[Descriptor] = []
    problems: list[str] = []
    for name in sorted(chosen):
        try:
            descriptors.append(replace(parse_descriptor(chosen[name]), sysroot=sysroot))
        except ValueError as exc:
            problems.append(f"{chosen[name]}: {exc}")
    return descriptors, problems


def parse_descriptor(path: Path) -> Descriptor:
    """One descriptor file; ValueError says what is wrong with it."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_DESCRIPTOR_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_DESCRIPTOR_BYTES:
        raise ValueError(f"larger than {MAX_DESCRIPTOR_BYTES} bytes")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("mapping"), dict):
        raise ValueError("no 'mapping' object")
    mapping = data["mapping"]
    device = str(mapping.get("device", ""))
    executable: Path | None = None
    template: Path | None = None
    if device == "flash":
        executable = _filename(mapping.get("executable"))
        template = _filename(mapping.get("nvram-template"))
    elif device == "memory":
        name = mapping.get("filename")
        executable = Path(name) if isinstance(name, str) else None
    machines = tuple(
        str(pattern)
        for target in _list(data.get("targets"))
        if isinstance(target, dict) and target.get("architecture") == "x86_64"
        for pattern in _list(target.get("machines"))
    )
    return Descriptor(
        source=path,
        description=str(data.get("description", "")),
        device=device,
        executable=executable,
        nvram_template=template,
        machines=machines,
        features=frozenset(str(f) for f in _list(data.get("features"))),
        interfaces=frozenset(str(i) for i in _list(data.get("interface-types"))),
    )


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _filename(value: object) -> Path | None:
    if isinstance(value, dict) and isinstance(value.get("filename"), str):
        return Path(value["filename"])
    return None


def canonical_machine(machine: str, aliases: Mapping[str, str]) -> str:
    """The versioned machine type QEMU runs for MACHINE ('q35' -> 'pc-q35-10.0').

    Without QEMU's alias list, the family prefix stands in so that 'pc-q35-*' matches.
    """
    if machine in aliases:
        return aliases[machine]
    if machine in _MACHINE_FAMILIES:
        return _MACHINE_FAMILIES[machine] + "any"
    return machine


def choose(
    descriptors: list[Descriptor],
    kind: VmKind,
    machine: str,
    direct_boot: bool,
    dialect: SnpDialect = "upstream",
) -> FirmwareChoice:
    """The first descriptor that fits KIND on MACHINE, as libvirt picks one.

    Confidential kinds need the kind's feature. A directly booted confidential guest
    (kernel-hashes=on) and upstream SEV-SNP need a stateless `memory` image: the AmdSev
    build, the one that carries the table of kernel hashes. Firmware that needs SMM is
    skipped (sevtui does not set up SMM, and SEV-SNP forbids it). A normal disk-booted
    guest prefers flash firmware, whose NVRAM keeps its boot entries.
    """
    if kind == "nosev" and direct_boot:
        return FirmwareChoice()
    feature = KIND_FEATURE.get(kind)
    need_memory = kind == "tdx" or (
        kind != "nosev" and (direct_boot or (kind == "sev-snp" and dialect == "upstream"))
    )
    missing_files: list[Path] = []
    if kind == "nosev":
        descriptors = sorted(descriptors, key=lambda d: d.device != "flash")
    for descriptor in descriptors:
        if not _fits(descriptor, machine, feature, need_memory):
            continue
        if not descriptor.files_exist:
            missing_files.append(descriptor.source)
            continue
        return FirmwareChoice(
            code=descriptor.executable,
            vars_template=descriptor.nvram_template if descriptor.device == "flash" else None,
            as_bios=descriptor.device == "memory",
            descriptor=descriptor.source,
        )
    return FirmwareChoice(problem=_missing(kind, direct_boot, feature, need_memory, missing_files))


def _fits(descriptor: Descriptor, machine: str, feature: str | None, need_memory: bool) -> bool:
    if "uefi" not in descriptor.interfaces or "requires-smm" in descriptor.features:
        return False
    if descriptor.device not in ("flash", "memory"):
        return False
    if need_memory and descriptor.device != "memory":
        return False
    if feature is not None and feature not in descriptor.features:
        return False
    return any(fnmatch(machine, pattern) for pattern in descriptor.machines)


def _missing(
    kind: VmKind, direct_boot: bool, feature: str | None, need_memory: bool, absent: list[Path]
) -> str:
    if feature is None:
        what, fix = "no UEFI firmware descriptor fits a disk-booted guest", OVMF_PACKAGES
    elif kind == "tdx":
        what = (
            f"no firmware for tdx: no descriptor offers {feature} (a build QEMU loads with -bios)"
        )
        fix = INTELTDX_PACKAGES
    elif need_memory:
        boot = "direct kernel boot (kernel-hashes=on)" if direct_boot else "a disk boot"
        what = (
            f"no firmware for {kind} with {boot}: no descriptor offers {feature} with a "
            "stateless build that measures the kernel"
        )
        fix = AMDSEV_PACKAGES
    else:
        what = f"no firmware for {kind}: no descriptor offers {feature}"
        fix = AMDSEV_PACKAGES if kind != "sev" else OVMF_PACKAGES
    if absent:
        what += f" ({', '.join(str(p) for p in absent)} names files that are not installed)"
    return f"{what}; {fix}"
