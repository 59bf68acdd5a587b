"""Prepare a cloud image for a VM the way the seed did, with generated ssh access."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from sevtui.base import statedir
from sevtui.base.errors import UsageError
from sevtui.base.proc import run_checked
from sevtui.config import Config, parse_size
from sevtui.host.qemu import find_binary
from sevtui.vm import lifecycle
from sevtui.vm.ref import VmRef
from sevtui.vm.resolve import derived_mac

TEMPLATES = Path(str(resources.files("sevtui").joinpath("data", "cloud-init")))
"""cloud-init templates: package data, so an installed wheel has them too."""


@dataclass(frozen=True)
class CloudVm:
    """The files made for one cloud VM."""

    disk: Path
    seed_iso: Path
    ssh_key: Path


def prepare_cloud(config: Config, vm: VmRef, base: Path, grow: str, force: bool = False) -> CloudVm:
    """qemu-img convert + resize, an ssh key, and a cloud-init seed ISO for VM.

    The disk is the VM's own (everything the guest wrote): an existing one is replaced
    only with FORCE, and never while the VM runs.
    """
    name, profile = vm.name, vm.profile
    _refuse(vm, base, grow, force)
    disk = vm.disk
    qemu_img = find_binary(config.qemu.img, "qemu-img", "sudo apt-get install qemu-utils")
    localds = find_binary(
        "cloud-localds", "cloud-localds", "sudo apt-get install cloud-image-utils"
    )
    keygen = find_binary("ssh-keygen", "ssh-keygen", "sudo apt-get install openssh-client")
    root = vm.data_dir
    statedir.private_dir(root, levels=2)
    statedir.private_dir(root / "ssh", levels=1)
    old_mask = os.umask(0o077)
    try:
        staged = root / "disk.img.part"
        statedir.remove(root, staged.name)
        convert = [qemu_img, "convert", "-O", "raw", str(base), str(staged)]
        run_checked(convert, "qemu-img convert", timeout=3600)
        resize = [qemu_img, "resize", "-f", "raw", str(staged), f"+{grow}"]
        run_checked(resize, "qemu-img resize")
        staged.replace(disk)
        key = vm.ssh_key
        if not key.exists():
            run_checked(
                [keygen, "-q", "-t", "ed25519", "-N", "", "-C", f"sevtui-{name}", "-f", str(key)],
                "ssh-keygen",
            )
        public_key = (root / "ssh" / "id_ed25519.pub").read_text().strip()
        values = {"name": name, "public_key": public_key, "mac": profile.mac or derived_mac(name)}
        for template in ("user-data.yaml", "network-config.yaml"):
            text = (TEMPLATES / template).read_text().format(**values)
            statedir.write(root, template, text.encode())
        seed = vm.seed
        run_checked(
            [
                localds,
                "-N",
                str(root / "network-config.yaml"),
                str(seed),
                str(root / "user-data.yaml"),
            ],
            "cloud-localds",
        )
    finally:
        os.umask(old_mask)
    for path in (disk, seed, key):
        os.chmod(path, 0o600)
    return CloudVm(disk, seed, key)


def _refuse(vm: VmRef, base: Path, grow: str, force: bool) -> None:
    """Bad input, a running VM, or (without FORCE) a disk that holds the guest's data."""
    if not base.is_file():
        raise UsageError(f"base image {base} does not exist", "pass a cloud image with --base")
    try:
        parse_size(grow)
    except ValueError:
        raise UsageError(f"--grow {grow!r}: not a size", "e.g. --grow 20G") from None
    name = vm.name
    if lifecycle.status(vm).state in ("running", "starting"):
        raise UsageError(
            f"VM {name!r} is running on the disk prepare-cloud would replace",
            f"stop it first: sevtui vm stop {name}",
        )
    disk = vm.disk
    if disk.exists() and not force:
        raise UsageError(
            f"{disk} exists: {name}'s disk, with everything its guest wrote",
            "pass --force to replace it with a fresh copy of the base image",
        )
