"""Prepare a cloud image for a VM the way the seed did, with generated ssh access."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from sevtui.config import Config, parse_size
from sevtui.errors import UsageError
from sevtui.host.qemu import find_binary
from sevtui.proc import run_checked
from sevtui.vm.resolve import derived_mac, vm_profile

TEMPLATES = Path(str(resources.files("sevtui").joinpath("data", "cloud-init")))
"""cloud-init templates: package data, so an installed wheel has them too."""


@dataclass(frozen=True)
class CloudVm:
    """The files made for one cloud VM."""

    disk: Path
    seed_iso: Path
    ssh_key: Path


def prepare_cloud(config: Config, name: str, base: Path, grow: str) -> CloudVm:
    """qemu-img convert + resize, an ssh key, and a cloud-init seed ISO for VM NAME."""
    profile = vm_profile(config, name)
    if not base.is_file():
        raise UsageError(f"base image {base} does not exist", "pass a cloud image with --base")
    try:
        parse_size(grow)
    except ValueError:
        raise UsageError(f"--grow {grow!r}: not a size", "e.g. --grow 20G") from None
    qemu_img = find_binary(config.qemu.img, "qemu-img", "sudo apt-get install qemu-utils")
    localds = find_binary(
        "cloud-localds", "cloud-localds", "sudo apt-get install cloud-image-utils"
    )
    keygen = find_binary("ssh-keygen", "ssh-keygen", "sudo apt-get install openssh-client")
    root = config.paths.data_dir / "vms" / name
    _private_dir(root)
    ssh_dir = root / "ssh"
    _private_dir(ssh_dir)
    old_mask = os.umask(0o077)
    try:
        disk = root / "disk.img"
        convert = [qemu_img, "convert", "-O", "raw", str(base), str(disk)]
        run_checked(convert, "qemu-img convert", timeout=3600)
        run_checked([qemu_img, "resize", "-f", "raw", str(disk), f"+{grow}"], "qemu-img resize")
        key = ssh_dir / "id_ed25519"
        if not key.exists():
            run_checked(
                [keygen, "-q", "-t", "ed25519", "-N", "", "-C", f"sevtui-{name}", "-f", str(key)],
                "ssh-keygen",
            )
        public_key = (ssh_dir / "id_ed25519.pub").read_text().strip()
        values = {"name": name, "public_key": public_key, "mac": profile.mac or derived_mac(name)}
        user_data = root / "user-data.yaml"
        network = root / "network-config.yaml"
        user_data.write_text((TEMPLATES / "user-data.yaml").read_text().format(**values))
        network.write_text((TEMPLATES / "network-config.yaml").read_text().format(**values))
        seed = root / "seed.iso"
        run_checked([localds, "-N", str(network), str(seed), str(user_data)], "cloud-localds")
    finally:
        os.umask(old_mask)
    for path in (disk, seed, user_data, network, key):
        os.chmod(path, 0o600)
    return CloudVm(disk, seed, key)


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
