"""What configured VMs need before they boot: their images, and why one cannot start."""

from __future__ import annotations

import time
from collections.abc import Callable

import psutil

from sevtui.base.errors import SevtuiError
from sevtui.base.sizes import format_size
from sevtui.config import Config
from sevtui.host.caps import CapabilityReport
from sevtui.image.debian import build_debian
from sevtui.image.minimal import build_minimal
from sevtui.vm import lifecycle
from sevtui.vm.cloud import prepare_cloud
from sevtui.vm.ref import VmRef, lookup

CLOUD_GROW = "20G"
"""How much a cloud VM's prepared disk grows beyond the base image."""


def ensure_images(config: Config, vms: list[VmRef], progress: Callable[[str], None]) -> list[str]:
    """Build (or reuse) the images VMS need; one line per step with its time: the
    minimal guest, the Debian disk, each cloud VM's prepared disk."""
    images = {vm.profile.image for vm in vms}
    steps = []
    if "minimal" in images:
        started = time.monotonic()
        _image, built = build_minimal(config.paths.images, config.image.kernel, progress=progress)
        steps.append(_step("minimal image", built, started))
    if "cloud" in images:
        started = time.monotonic()
        debian, built = build_debian(
            config.paths.images, config.paths.sources, config.image.debian_mirror, progress=progress
        )
        steps.append(_step("debian image", built, started))
        for vm in vms:
            if vm.profile.image == "cloud":
                started = time.monotonic()
                fresh = not vm.disk.is_file()
                if fresh:
                    prepare_cloud(config, vm, debian.disk, CLOUD_GROW)
                steps.append(_step(f"{vm.name}'s disk", fresh, started))
    return steps


def _step(what: str, built: bool, started: float) -> str:
    """`minimal image: built in 12.3 s`, or `up to date`."""
    took = time.monotonic() - started
    return f"{what}: built in {took:.1f} s" if built else f"{what}: up to date ({took:.1f} s)"


def start_blockers(config: Config, report: CapabilityReport) -> dict[str, str]:
    """Configured VMs that are stopped and cannot start here, with the reason: a kind
    this host cannot run, a missing image or disk, more memory than the host has."""
    blocked: dict[str, str] = {}
    for name in config.vm:
        vm = lookup(config, name)
        if lifecycle.status(vm).state == "running":
            continue
        verdict = report.profiles[vm.profile.kind]
        try:
            if not verdict.launchable:
                blocked[name] = f"{vm.profile.kind}: {verdict.reason}"
                continue
            lifecycle.check_media(config, vm, report)
        except SevtuiError as exc:
            blocked[name] = exc.message
            continue
        if vm.profile.memory > psutil.virtual_memory().total:
            blocked[name] = f"wants {format_size(vm.profile.memory)}, the host has less"
    return blocked
