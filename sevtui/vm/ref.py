"""One configured VM, looked up once per action and passed down as it is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sevtui.base.errors import UsageError
from sevtui.config import Config, VmConfig
from sevtui.vm.spec import VmPaths


@dataclass(frozen=True)
class VmRef:
    """A `[vm.NAME]` profile with its folders: what lifecycle, runner and remote take
    instead of (config, name), so a name is looked up in the config once."""

    name: str
    profile: VmConfig
    paths: VmPaths
    data_dir: Path

    @property
    def disk(self) -> Path:
        """The disk `image prepare-cloud` makes for this VM (`image = "cloud"`)."""
        return self.data_dir / "disk.img"

    @property
    def seed(self) -> Path:
        """The cloud-init seed ISO `image prepare-cloud` makes for this VM."""
        return self.data_dir / "seed.iso"

    @property
    def ssh_key(self) -> Path:
        """Where `image prepare-cloud` put this VM's private key."""
        return self.data_dir / "ssh" / "id_ed25519"


def lookup(config: Config, name: str) -> VmRef:
    """VM NAME of CONFIG, or a clear error listing the names there are."""
    try:
        profile = config.vm[name]
    except KeyError:
        known = ", ".join(sorted(config.vm)) or "none"
        raise UsageError(
            f"no VM named {name!r} in the config (configured: {known})",
            "add a [vm.NAME] table to config.toml or pick one of the configured names",
        ) from None
    return VmRef(name, profile, state_paths(config, name), config.paths.data_dir / "vms" / name)


def state_paths(config: Config, name: str) -> VmPaths:
    """The private state directory of VM NAME.

    A sweep variant's '=' becomes '-' in the folder name: QEMU's legacy option syntax
    (-qmp unix:PATH,...) cannot take '=' in a path.
    """
    return VmPaths(config.paths.state_dir / "vms" / name.replace("=", "-"))
