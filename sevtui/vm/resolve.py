"""From a `[vm.NAME]` profile plus what the host says to a complete VmSpec."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from sevtui.config import Config, VmConfig
from sevtui.errors import UsageError
from sevtui.host.cpuid import Leaf8000001F
from sevtui.host.qemu import QemuInfo
from sevtui.vm.images import built_minimal, minimal_dir
from sevtui.vm.spec import DEFAULT_POLICY, Accel, DirectBoot, SnpDialect, VmPaths, VmSpec

OVMF_PFLASH = (
    ("/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"),
    ("/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"),
    ("/usr/share/edk2/ovmf/OVMF_CODE.fd", "/usr/share/edk2/ovmf/OVMF_VARS.fd"),
)
OVMF_SNP_BIOS = (
    "/usr/share/ovmf/OVMF.amdsev.fd",
    "/usr/share/edk2/ovmf/OVMF.amdsev.fd",
    "/usr/share/ovmf/OVMF.fd",
)
FALLBACK_CBITPOS = 51


@dataclass
class Resolved:
    """A VmSpec plus what the user should know about how it was chosen."""

    spec: VmSpec
    notes: list[str] = field(default_factory=list)
    vars_template: Path | None = None


def vm_profile(config: Config, name: str) -> VmConfig:
    """The `[vm.NAME]` table, or a clear error listing the names there are."""
    try:
        return config.vm[name]
    except KeyError:
        known = ", ".join(sorted(config.vm)) or "none"
        raise UsageError(
            f"no VM named {name!r} in the config (configured: {known})",
            "add a [vm.NAME] table to config.toml or pick one of the configured names",
        ) from None


def derived_mac(name: str) -> str:
    """A stable locally administered MAC for VM NAME."""
    digest = hashlib.sha256(name.encode()).digest()
    return "52:54:00:" + ":".join(f"{byte:02x}" for byte in digest[:3])


def vm_paths(config: Config, name: str) -> VmPaths:
    """The private state directory of VM NAME."""
    return VmPaths(config.paths.state_dir / "vms" / name)


def snp_dialect(config: Config, qemu: QemuInfo) -> SnpDialect:
    """Which SEV-SNP syntax to use with this QEMU."""
    if config.qemu.snp_dialect != "auto":
        return config.qemu.snp_dialect
    if qemu.version >= (9, 1, 0):
        return "upstream"
    return "amd-fork" if "sev-snp-guest" in qemu.objects else "upstream"


def resolve(
    config: Config,
    name: str,
    qemu: QemuInfo,
    accel: Accel,
    leaf: Leaf8000001F | None,
) -> Resolved:
    """Fill in every default for VM NAME: firmware, C-bit, policy, CPU model, boot media."""
    profile = vm_profile(config, name)
    notes: list[str] = []
    dialect = snp_dialect(config, qemu)
    cbitpos = profile.cbitpos
    if cbitpos is None:
        if leaf is not None:
            cbitpos = leaf.cbitpos
        else:
            cbitpos = FALLBACK_CBITPOS
            if profile.kind != "nosev":
                notes.append(
                    f"C-bit position unknown on this host (no CPUID 0x8000001F); "
                    f"using {FALLBACK_CBITPOS} (set vm.{name}.cbitpos to choose)"
                )
    boot, disk = _boot_media(config, profile.image)
    firmware, vars_template = _firmware(profile, boot is not None, dialect)
    vars_copy = None
    if vars_template is not None:
        vars_copy = config.paths.data_dir / "vms" / name / "OVMF_VARS.fd"
    spec = VmSpec(
        name=name,
        kind=profile.kind,
        qemu=qemu.path,
        accel=accel,
        vcpus=profile.vcpus,
        memory=profile.memory,
        cpu=profile.cpu or ("host" if accel == "kvm" else "max"),
        machine=profile.machine,
        paths=vm_paths(config, name),
        boot=boot,
        disk=disk,
        firmware=firmware,
        firmware_vars=vars_copy,
        cloud_init=profile.cloud_init,
        network=profile.network,
        mac=profile.mac or derived_mac(name),
        ssh_port=profile.ssh_port,
        policy=profile.policy if profile.policy is not None else DEFAULT_POLICY[profile.kind],
        cbitpos=cbitpos,
        reduced_phys_bits=profile.reduced_phys_bits,
        host_data=profile.host_data,
        snp_dialect=dialect,
        extra_args=tuple(profile.extra_args),
    )
    return Resolved(spec, notes, vars_template)


def _boot_media(config: Config, image: str) -> tuple[DirectBoot | None, Path | None]:
    """Direct kernel boot for the built-in minimal guest, else a disk image."""
    if image != "minimal":
        return None, Path(image)
    built = built_minimal(config.paths.images)
    if built is None:
        root = minimal_dir(config.paths.images)
        return DirectBoot(root / "vmlinuz", root / "initrd.img"), None
    return DirectBoot(built.kernel, built.initrd), None


def _firmware(
    profile: VmConfig, direct_boot: bool, dialect: SnpDialect
) -> tuple[Path | None, Path | None]:
    """(code, vars template): the profile's, else a packaged OVMF where one is needed."""
    if profile.firmware is not None:
        return profile.firmware, profile.firmware_vars
    if profile.kind == "nosev" and direct_boot:
        return None, None
    if profile.kind == "sev-snp" and dialect == "upstream":
        return _first_existing(OVMF_SNP_BIOS), None
    code, template = next(
        ((Path(c), Path(v)) for c, v in OVMF_PFLASH if Path(c).is_file()),
        (Path(OVMF_PFLASH[0][0]), Path(OVMF_PFLASH[0][1])),
    )
    return code, profile.firmware_vars or template


def _first_existing(candidates: tuple[str, ...]) -> Path:
    return next((Path(c) for c in candidates if Path(c).is_file()), Path(candidates[0]))
