"""From a `[vm.NAME]` profile plus what the host says to a complete VmSpec."""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

from sevtui.base.kinds import SEV_KINDS, SnpDialect
from sevtui.base.ports import free_port
from sevtui.config import Config, VmConfig
from sevtui.host import firmware
from sevtui.host.cpuid import Leaf8000001F
from sevtui.host.firmware import FirmwareChoice
from sevtui.host.qemu import QemuInfo, snp_dialect
from sevtui.image.minimal import built_minimal, minimal_dir
from sevtui.vm.ref import VmRef
from sevtui.vm.spec import DEFAULT_POLICY, USER_NET, Accel, DirectBoot, VmSpec

FALLBACK_CBITPOS = 51


@dataclass
class Resolved:
    """A VmSpec plus what the user should know about how it was chosen.

    `blockers` are problems that stop a launch (no fitting firmware); `notes` are
    warnings that do not.
    """

    spec: VmSpec
    notes: list[str] = field(default_factory=list)
    vars_template: Path | None = None
    firmware: FirmwareChoice = field(default_factory=FirmwareChoice)
    blockers: list[str] = field(default_factory=list)


def derived_mac(name: str) -> str:
    """A stable locally administered MAC for VM NAME."""
    digest = hashlib.sha256(name.encode()).digest()
    return "52:54:00:" + ":".join(f"{byte:02x}" for byte in digest[:3])


def resolve(
    config: Config,
    vm: VmRef,
    qemu: QemuInfo,
    accel: Accel,
    leaf: Leaf8000001F | None,
) -> Resolved:
    """Fill in every default for VM: firmware, C-bit, policy, CPU model, boot media."""
    name, profile = vm.name, vm.profile
    notes: list[str] = []
    dialect = snp_dialect(config.qemu.snp_dialect, qemu)
    cbitpos = _cbitpos(profile, name, leaf, notes)
    boot, disk = _boot_media(config, vm)
    choice = _firmware(profile, boot is not None, dialect, qemu)
    blockers: list[str] = []
    boot = _host_settings(name, profile, boot, blockers)
    if choice.problem:
        blockers.append(f"{name}: {choice.problem.replace('vm.NAME', f'vm.{name}')}")
    vars_template = choice.vars_template
    vars_copy = vm.data_dir / "OVMF_VARS.fd" if vars_template else None
    spec = VmSpec(
        name=name,
        kind=profile.kind,
        qemu=qemu.path,
        accel=accel,
        vcpus=profile.vcpus,
        memory=profile.memory,
        cpu=profile.cpu or ("host" if accel == "kvm" else "max"),
        machine=profile.machine,
        paths=vm.paths,
        boot=boot,
        disk=disk,
        firmware=choice.code,
        firmware_vars=vars_copy,
        firmware_as_bios=choice.as_bios,
        cloud_init=_cloud_init(vm),
        network=profile.network,
        mac=profile.mac or derived_mac(name),
        ssh_port=profile.ssh_port,
        policy=profile.policy if profile.policy is not None else DEFAULT_POLICY[profile.kind],
        cbitpos=cbitpos,
        reduced_phys_bits=profile.reduced_phys_bits,
        host_data=profile.host_data,
        snp_blobs=_snp_blobs(profile),
        snp_dialect=dialect,
        extra_args=tuple(profile.extra_args),
        numa_node=profile.numa_node,
        net_port=free_port() if profile.network == "user" else 0,
        vhost=profile.vhost,
        queues=profile.queues,
    )
    return Resolved(spec, notes, vars_template, choice, blockers)


def _snp_blobs(profile: VmConfig) -> tuple[tuple[str, str], ...]:
    """The SEV-SNP launch blobs the profile sets, as (QEMU option, base64)."""
    blobs = (
        ("id-block", profile.id_block),
        ("id-auth", profile.id_auth),
        ("guest-visible-workarounds", profile.guest_visible_workarounds),
        ("mrconfigid", profile.mrconfigid),
        ("mrowner", profile.mrowner),
        ("mrownerconfig", profile.mrownerconfig),
    )
    return tuple((option, value) for option, value in blobs if value)


def _host_settings(
    name: str, profile: VmConfig, boot: DirectBoot | None, blockers: list[str]
) -> DirectBoot | None:
    """BOOT with the guest kernel parameters the profile asks for (bounce, idle, the
    minimal guest's NIC address on the user network); NUMA problems go to BLOCKERS."""
    boot = _with_kernel_args(name, profile, boot, blockers)
    address = USER_NET if profile.network == "user" else profile.guest_address
    if boot is not None and address:
        boot = replace(boot, append=f"{boot.append} sevtui.net={address}")
    if profile.numa_node is not None:
        blockers += _numa_blockers(name, profile.numa_node)
    if profile.vhost and not VHOST_NET.exists():
        blockers.append(
            f"{name}: vhost = true, but this host has no {VHOST_NET} (its kernel lacks "
            "vhost-net, or the module is not loaded: modprobe vhost_net)"
        )
    return boot


KERNEL_ARGS = {
    ("bounce", "force"): "swiotlb=force",
    ("idle", "poll"): "idle=poll",
    ("idle", "haltpoll"): "cpuidle_haltpoll.force=Y",
}
"""Profile settings that are guest kernel parameters."""


def _with_kernel_args(
    name: str, profile: VmConfig, boot: DirectBoot | None, blockers: list[str]
) -> DirectBoot | None:
    """BOOT with the kernel parameters PROFILE asks for (bounce, idle); a blocker when
    there is no kernel sevtui boots (a disk guest's command line is its own)."""
    wanted = [
        (f'{key} = "{value}"', arg)
        for (key, value), arg in KERNEL_ARGS.items()
        if getattr(profile, key) == value
    ]
    if not wanted:
        return boot
    if boot is None:
        for setting, arg in wanted:
            blockers.append(
                f"{name}: {setting} needs a kernel sevtui boots directly (image = "
                f'"minimal"); a disk guest\'s kernel command line is its own: add {arg} '
                "there instead"
            )
        return None
    return replace(boot, append=" ".join([boot.append, *(arg for _, arg in wanted)]))


NODES = Path("/sys/devices/system/node")
VHOST_NET = Path("/dev/vhost-net")


def _numa_blockers(name: str, node: int) -> list[str]:
    """Why VM NAME cannot be bound to host NUMA NODE here (empty: it can)."""
    if not (NODES / f"node{node}").is_dir():
        present = sorted(p.name.removeprefix("node") for p in NODES.glob("node[0-9]*"))
        return [
            f"{name}: numa_node = {node}, but this host has NUMA node(s) "
            f"{', '.join(present) or 'none'}"
        ]
    if shutil.which("numactl") is None:
        return [f"{name}: numa_node needs numactl (sudo apt-get install numactl)"]
    return []


def _cbitpos(profile: VmConfig, name: str, leaf: Leaf8000001F | None, notes: list[str]) -> int:
    """The profile's C-bit, else the host's; a host without one gets a plain warning."""
    if profile.cbitpos is not None:
        return profile.cbitpos
    if leaf is not None and leaf.cbitpos:
        return leaf.cbitpos
    if profile.kind in SEV_KINDS:
        where = "reports no C-bit" if leaf is not None else "is not readable"
        notes.append(
            f"{name} cannot launch on this host: its CPUID 0x8000001F {where}, so it has no "
            f"AMD memory encryption and QEMU stops at the C-bit check; the argv uses "
            f"cbitpos={FALLBACK_CBITPOS} (EPYC's; set vm.{name}.cbitpos for another host)"
        )
    return FALLBACK_CBITPOS


def _boot_media(config: Config, vm: VmRef) -> tuple[DirectBoot | None, Path | None]:
    """Direct kernel boot for the built-in minimal guest, else a disk image."""
    image = vm.profile.image
    if image == "cloud":
        return None, vm.disk
    if image != "minimal":
        return None, Path(image)
    built = built_minimal(config.paths.images)
    if built is None:
        root = minimal_dir(config.paths.images)
        return DirectBoot(root / "vmlinuz", root / "initrd.img"), None
    return DirectBoot(built.kernel, built.initrd), None


def _cloud_init(vm: VmRef) -> Path | None:
    """The profile's seed ISO; for `image = "cloud"` the prepared one by default."""
    if vm.profile.cloud_init is None and vm.profile.image == "cloud":
        return vm.seed
    return vm.profile.cloud_init


def _firmware(
    profile: VmConfig, direct_boot: bool, dialect: SnpDialect, qemu: QemuInfo
) -> FirmwareChoice:
    """The profile's firmware when it names one, else the first descriptor that fits."""
    if profile.firmware is not None:
        as_bios = profile.kind == "tdx" or (profile.kind == "sev-snp" and dialect == "upstream")
        template = None if as_bios else profile.firmware_vars
        return FirmwareChoice(profile.firmware, template, as_bios)
    descriptors, _ = firmware.load_descriptors(firmware.descriptor_dirs(Path("/"), os.environ))
    machine = firmware.canonical_machine(profile.machine, qemu.aliases)
    choice = firmware.choose(descriptors, profile.kind, machine, direct_boot, dialect)
    if choice.vars_template is not None and profile.firmware_vars is not None:
        return FirmwareChoice(choice.code, profile.firmware_vars, False, choice.descriptor)
    return choice
