"""A fully resolved VM description and the pure function that turns it into QEMU's argv."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from sevtui.base.kinds import SnpDialect
from sevtui.config import VmKind, format_size

Accel = Literal["kvm", "tcg"]
READY_MARKER = "SEVTUI-READY"
TD_SEPT_VE_DISABLE = 1 << 28
"""The TD attribute Linux guests need: EPT violations on pending pages are not #VE."""
DEFAULT_POLICY: dict[VmKind, int] = {
    "nosev": 0,
    "sev": 0x1,
    "sev-es": 0x5,
    "sev-snp": 0x30000,
    "tdx": TD_SEPT_VE_DISABLE,
}


@dataclass(frozen=True)
class DirectBoot:
    """Kernel + initramfs booted without a disk (the minimal guest)."""

    kernel: Path
    initrd: Path
    append: str = "console=ttyS0 quiet panic=-1"

    def with_ready_nonce(self, nonce: str) -> DirectBoot:
        """The same boot, asking the guest to print ready_marker(NONCE) when it is up."""
        return replace(self, append=f"{self.append} sevtui.ready={nonce}")


def ready_marker(nonce: str) -> str:
    """What the minimal guest prints once ready: the marker and this boot's nonce.

    The kernel echoes its command line (`sevtui.ready=NONCE`), which never contains this
    text, and a marker from an earlier boot or printed without the nonce never matches.
    """
    return f"{READY_MARKER}-{nonce}"


@dataclass(frozen=True)
class VmPaths:
    """Files of one VM's private state directory."""

    root: Path

    @property
    def qmp(self) -> Path:
        """QMP control socket."""
        return self.root / "qmp.sock"

    @property
    def serial(self) -> Path:
        """Serial console socket (the guest shell)."""
        return self.root / "serial.sock"

    @property
    def serial_log(self) -> Path:
        """Everything the guest printed on its console."""
        return self.root / "serial.log"

    @property
    def pidfile(self) -> Path:
        """QEMU's own pidfile."""
        return self.root / "qemu.pid"


IPERF_PORT = 5201
"""The guest port iperf3 serves on (the network benchmark's server)."""
USER_NET = "10.0.2.15/24,10.0.2.2"
"""The minimal guest's address and gateway on QEMU's user network (sevtui.net=)."""


@dataclass(frozen=True)
class VmSpec:
    """Everything needed to launch one VM, with no decisions left to make."""

    name: str
    kind: VmKind
    qemu: str
    accel: Accel
    vcpus: int
    memory: int
    cpu: str
    machine: str
    paths: VmPaths
    boot: DirectBoot | None = None
    disk: Path | None = None
    firmware: Path | None = None
    firmware_vars: Path | None = None
    firmware_as_bios: bool = False
    cloud_init: Path | None = None
    network: str = "user"
    mac: str = "52:54:00:00:00:01"
    ssh_port: int = 0
    policy: int = 0
    cbitpos: int = 51
    reduced_phys_bits: int = 1
    host_data: str = ""
    snp_blobs: tuple[tuple[str, str], ...] = ()
    snp_dialect: SnpDialect = "upstream"
    extra_args: tuple[str, ...] = field(default_factory=tuple)
    numa_node: int | None = None
    """Host NUMA node QEMU's vCPU threads and memory are bound to (None: not bound)."""
    net_port: int = 0
    """Host port on 127.0.0.1 forwarded (TCP and UDP) to the guest's iperf3 port with user
    networking; 0: none."""
    vhost: bool = False
    """The tap device's data path in the host kernel (vhost-net)."""
    queues: int = 1
    """NIC queue pairs (multiqueue tap when more than 1)."""


def build_argv(spec: VmSpec) -> list[str]:
    """QEMU's argv for SPEC: pure, so golden tests can compare it option by option."""
    argv = [spec.qemu, "-name", f"guest={spec.name},process=sevtui-{spec.name}"]
    argv += ["-accel", spec.accel]
    if spec.cpu:
        argv += ["-cpu", spec.cpu]
    argv += ["-smp", str(spec.vcpus)]
    argv += _memory_and_machine(spec)
    argv += _firmware(spec)
    argv += _boot_media(spec)
    argv += _network(spec)
    argv += _control(spec)
    argv += list(spec.extra_args)
    if spec.numa_node is not None:
        node = spec.numa_node
        return ["numactl", f"--cpunodebind={node}", f"--membind={node}", "--", *argv]
    return argv


def _memory_and_machine(spec: VmSpec) -> list[str]:
    size = format_size(spec.memory)
    machine = f"type={spec.machine}"
    bound: list[str] = []
    if spec.numa_node is not None and spec.kind != "sev-snp":
        bound = [
            "-object",
            f"memory-backend-ram,id=ram0,size={size},host-nodes={spec.numa_node},policy=bind",
        ]
        machine += ",memory-backend=ram0"
    if spec.kind == "nosev":
        return ["-m", size, "-machine", machine, *bound]
    if spec.kind == "tdx":
        return _tdx_memory(spec, machine, size)
    if spec.kind in ("sev", "sev-es"):
        guest = [
            "sev-guest,id=sev0",
            f"policy={spec.policy:#x}",
            f"cbitpos={spec.cbitpos}",
            f"reduced-phys-bits={spec.reduced_phys_bits}",
        ]
        if spec.boot is not None:
            guest.append("kernel-hashes=on")
        return [
            "-m",
            size,
            "-machine",
            f"{machine},confidential-guest-support=sev0,vmport=off",
            *bound,
            "-object",
            ",".join(guest),
        ]
    return _snp_memory(spec, machine, size)


def _snp_memory(spec: VmSpec, machine: str, size: str) -> list[str]:
    """An SEV-SNP guest's RAM (a memfd backend, private pages in guest_memfd) and its
    sev-snp-guest object, in the dialect of the QEMU in use."""
    snp = [
        "sev-snp-guest,id=sev0",
        f"policy={spec.policy:#x}",
        f"cbitpos={spec.cbitpos}",
        f"reduced-phys-bits={spec.reduced_phys_bits}",
    ]
    if spec.snp_dialect == "amd-fork":
        snp.append("init-flags=0")
        if spec.host_data:
            snp.append(f"host-data={spec.host_data}")
        return [
            "-machine",
            f"{machine},confidential-guest-support=sev0,memory-backend=ram1,"
            "kvm-type=protected,vmport=off",
            "-object",
            f"memory-backend-memfd-private,id=ram1,size={size},share=true",
            "-object",
            ",".join(snp),
        ]
    if spec.host_data:
        snp.append(f"host-data={spec.host_data}")
    snp += [f"{option}={value}" for option, value in spec.snp_blobs]
    if spec.boot is not None:
        snp.append("kernel-hashes=on")
    return [
        "-m",
        size,
        "-machine",
        f"{machine},confidential-guest-support=sev0,memory-backend=ram1,vmport=off",
        "-object",
        f"memory-backend-memfd,id=ram1,size={size},share=true,prealloc=false",
        "-object",
        ",".join(snp),
    ]


def _tdx_memory(spec: VmSpec, machine: str, size: str) -> list[str]:
    """A TD (QEMU's docs/system/i386/tdx.rst): tdx-guest with its attributes and measured
    IDs, split irqchip, no SMM; its private memory is guest_memfd, which -m gives."""
    guest = ["tdx-guest,id=tdx0"]
    guest.append(f"sept-ve-disable={'on' if spec.policy & TD_SEPT_VE_DISABLE else 'off'}")
    others = spec.policy & ~TD_SEPT_VE_DISABLE
    if others:
        guest.append(f"attributes={spec.policy:#x}")
    guest += [f"{option}={value}" for option, value in spec.snp_blobs]
    return [
        "-m",
        size,
        "-machine",
        f"{machine},confidential-guest-support=tdx0,kernel-irqchip=split,smm=off",
        "-object",
        ",".join(guest),
    ]


def _firmware(spec: VmSpec) -> list[str]:
    if spec.firmware is None:
        return []
    if spec.firmware_as_bios:
        return ["-bios", str(spec.firmware)]
    argv = ["-drive", f"if=pflash,format=raw,unit=0,file={spec.firmware},readonly=on"]
    if spec.firmware_vars is not None:
        argv += ["-drive", f"if=pflash,format=raw,unit=1,file={spec.firmware_vars}"]
    return argv


def _boot_media(spec: VmSpec) -> list[str]:
    argv: list[str] = []
    if spec.boot is not None:
        argv += ["-kernel", str(spec.boot.kernel), "-initrd", str(spec.boot.initrd)]
        argv += ["-append", spec.boot.append]
    if spec.cloud_init is not None:
        argv += ["-drive", f"file={spec.cloud_init},media=cdrom,index=0"]
    if spec.disk is not None:
        disk_format = "qcow2" if spec.disk.suffix == ".qcow2" else "raw"
        argv += ["-drive", f"file={spec.disk},if=none,id=disk0,format={disk_format}"]
        argv += ["-device", "virtio-scsi-pci,id=scsi0,disable-legacy=on,iommu_platform=true"]
        argv += ["-device", "scsi-hd,drive=disk0"]
    return argv


def _network(spec: VmSpec) -> list[str]:
    if spec.network == "user":
        netdev = "user,id=net0"
        if spec.ssh_port:
            netdev += f",hostfwd=tcp:127.0.0.1:{spec.ssh_port}-:22"
        if spec.net_port:
            for proto in ("tcp", "udp"):
                netdev += f",hostfwd={proto}:127.0.0.1:{spec.net_port}-:{IPERF_PORT}"
    elif spec.network.startswith("tap:"):
        tap = spec.network.removeprefix("tap:")
        netdev = f"type=tap,script=no,downscript=no,id=net0,ifname={tap}"
        netdev += ",vhost=on" if spec.vhost else ""
        netdev += f",queues={spec.queues}" if spec.queues > 1 else ""
    else:
        netdev = f"bridge,id=net0,br={spec.network}"
    device = (
        f"virtio-net-pci,mac={spec.mac},netdev=net0,disable-legacy=on,iommu_platform=true,romfile="
    )
    if spec.queues > 1:
        device += f",mq=on,vectors={2 * spec.queues + 2}"
    return ["-netdev", netdev, "-device", device]


def _control(spec: VmSpec) -> list[str]:
    paths = spec.paths
    return [
        "-nodefaults",
        "-display",
        "none",
        "-chardev",
        f"socket,id=serial0,path={paths.serial},server=on,wait=off,logfile={paths.serial_log}",
        "-serial",
        "chardev:serial0",
        "-qmp",
        f"unix:{paths.qmp},server=on,wait=off",
        "-pidfile",
        str(paths.pidfile),
    ]
