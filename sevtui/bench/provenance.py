"""What a run records about where it ran: the host (CPU, microcode, kernel, QEMU, the
capability report, platform facts, the config), each VM (profile, argv, accel,
firmware with its package) and the medium a target's work folder is on."""

from __future__ import annotations

import hashlib
import os
import platform
import re
from typing import Any

from sevtui import __version__
from sevtui.base.errors import SevtuiError
from sevtui.bench import conditions, variants
from sevtui.config import Config, dump_config
from sevtui.host import platform as platform_facts_of
from sevtui.host.caps import CapabilityReport
from sevtui.host.qemu import probe_qemu
from sevtui.host.sysctl import NUMA_BALANCING, proc_sys
from sevtui.vm import lifecycle
from sevtui.vm.ref import VmRef
from sevtui.vm.spec import IPERF_PORT

HOST_NAME_ENV = "SEVTUI_HOST_NAME"
"""The host's name in a run's provenance (a fleet run sets the inventory name); else the
hostname. `results compare --by-host` groups runs by it."""
RAM_FILESYSTEMS = {"tmpfs", "ramfs", "rootfs"}


def work_filesystem(work_dir: str, mounts: list[str]) -> str:
    """The filesystem type of the longest mount point that holds WORK_DIR (/proc/mounts)."""
    best, fstype = -1, "unknown"
    for line in mounts:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = point in ("/", work_dir) or work_dir.startswith(point.rstrip("/") + "/")
        if inside and len(point) > best:
            best, fstype = len(point), fields[2]
    return fstype


def nic_facts(argv: list[str]) -> dict[str, Any] | None:
    """The guest NIC as QEMU was told: model, backend, vhost, queues, and whether its DMA
    goes through the platform IOMMU (so a guest may bounce it); None without a NIC."""
    device = next(
        (
            argv[i + 1]
            for i, word in enumerate(argv[:-1])
            if word == "-device" and "netdev=" in argv[i + 1]
        ),
        None,
    )
    if device is None:
        return None
    netdev = next((argv[i + 1] for i, word in enumerate(argv[:-1]) if word == "-netdev"), "")
    options = dict(part.partition("=")[::2] for part in f"{device},{netdev}".split(",")[1:])
    forward = re.search(rf"hostfwd=tcp:127\.0\.0\.1:(\d+)-:{IPERF_PORT}\b", netdev)
    return {
        "iperf3_host": "127.0.0.1" if forward else None,
        "iperf3_port": int(forward.group(1)) if forward else None,
        "model": device.split(",", 1)[0],
        "backend": netdev.split(",", 1)[0].removeprefix("type="),
        "vhost": options.get("vhost") in ("on", "true"),
        "queues": int(queues) if (queues := options.get("queues", "1")).isdigit() else queues,
        "iommu_platform": options.get("iommu_platform") in ("on", "true"),
    }


def _binding(node: int | None, kind: str) -> str:
    """How QEMU was bound to a host NUMA node (vm/spec.py builds it)."""
    if node is None:
        return "none"
    numactl = f"numactl --cpunodebind={node} --membind={node}"
    if kind == "sev-snp":
        return f"{numactl} (private memory in guest_memfd does not follow it)"
    return f"{numactl}; memory-backend-ram host-nodes={node},policy=bind"


def _balancing_now() -> int | None:
    """The host's kernel.numa_balancing while the target runs (None: no such setting)."""
    try:
        text = (proc_sys() / NUMA_BALANCING).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _reachable(nic: dict[str, Any] | None, address: str) -> dict[str, Any] | None:
    """NIC facts with the guest's own address as the iperf3 server's (tap or bridge
    networking with vm.NAME.guest_address)."""
    if nic is not None and address:
        nic |= {"iperf3_host": address.partition("/")[0], "iperf3_port": IPERF_PORT}
    return nic


def guest_info(vm: VmRef) -> dict[str, Any]:
    """A VM target's facts: profile, argv, accel, variant, and the firmware it loads."""
    profile = vm.profile
    record = lifecycle.vm_record(vm.paths)
    info: dict[str, Any] = {
        "profile": profile.model_dump(mode="json"),
        "kind": profile.kind,
        "vcpus": profile.vcpus,
        "memory": profile.memory,
        "policy": profile.policy,
        "accel": record.accel,
        "argv": record.argv,
        "numa_node": profile.numa_node,
        "numa_binding": _binding(profile.numa_node, profile.kind),
        "numa_balancing": _balancing_now(),
        "nic": _reachable(nic_facts(record.argv), profile.guest_address),
    }
    variant = variants.parse_name(vm.name)
    if variant is not None:
        info["variant"] = {"base": variant.base, **dict(variant.params)}
    if profile.firmware is not None and profile.firmware.is_file():
        info["firmware"] = str(profile.firmware)
        info["firmware_sha256"] = hashlib.sha256(profile.firmware.read_bytes()).hexdigest()
    passed = platform_facts_of.firmware_in_argv(record.argv)
    if passed is not None:
        info["firmware_file"] = platform_facts_of.file_provenance(passed)
        info.setdefault("firmware", str(passed))
        info.setdefault("firmware_sha256", info["firmware_file"]["sha256"])
    return info


def host_provenance(config: Config, report: CapabilityReport) -> dict[str, Any]:
    """The host facts every run stores (the capability report read them once)."""
    try:
        qemu = probe_qemu(config.qemu.binary).version_text
    except SevtuiError as exc:
        qemu = exc.message
    return {
        "host": os.environ.get(HOST_NAME_ENV) or platform.node(),
        "hostname": platform.node(),
        "cpu_model": report.model,
        "cpu_vendor": report.vendor,
        "microcode": report.microcode,
        "host_kernel": platform.release(),
        "qemu": qemu,
        "capabilities": report.to_json(),
        "platform": platform_facts_of.platform_facts(),
        "sevtui": __version__,
        "config": dump_config(config),
    }


def run_mode(concurrent: bool) -> str:
    """How a run's targets shared the host: all at once, or one after another."""
    return "concurrent" if concurrent else "interleaved"


def host_settings() -> dict[str, Any]:
    """The host's CPU settings, recorded with the host target."""
    return {"kernel": platform.release(), "cpus": os.cpu_count(), **conditions.cpu_settings()}
