"""The tdx argv of every boot mode and network, fed to a real QEMU >= 10.1 (tdx-guest).

`make test` unpacks Debian's trixie-backports QEMU 11.1 with its libraries and loader,
and sid's `ovmf-inteltdx`, into .cache/tdx-qemu (tests/tools/tdx-qemu.sh); nothing is
installed. Each argv must get past QEMU's option parsing and stop only where this host
cannot create a TD (KVM's vm-type), with sevtui's plain explanation; a property, parse
or file error fails the test. On a host that can run TDs the VM starts instead.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import IMAGES, sevtui
from tests.integration.test_qemu10 import PARSE_OR_FILE_ERROR, unpacked_descriptor

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache/tdx-qemu"
HARDWARE_STAGE = re.compile(
    r"vm-type TDX not supported by KVM|Could not access KVM kernel module|"
    r"failed to initialize kvm|/dev/kvm"
)


@pytest.fixture(scope="module")
def tdx_qemu() -> str:
    """The unpacked QEMU 11.1 (a wrapper running it under its own loader)."""
    wrapper = CACHE / "qemu-system-x86_64"
    if not wrapper.is_file():
        pytest.fail("no QEMU 11 in .cache/tdx-qemu: run `make upstream-qemu`")
    argv = [str(wrapper), "--version"]
    version = subprocess.run(argv, capture_output=True, text=True, check=True)
    assert "QEMU emulator version 1" in version.stdout, version.stderr
    return str(wrapper)


@pytest.fixture
def inteltdx_descriptor(private_xdg: Path) -> Path:
    """sid's ovmf-inteltdx descriptor in $XDG_CONFIG_HOME, pointing at the unpacked file."""
    source = CACHE / "root/usr/share/qemu/firmware/60-edk2-x86_64-inteltdx.json"
    firmware = CACHE / "root/usr/share/ovmf/OVMF.inteltdx.ms.fd"
    return unpacked_descriptor(private_xdg, source, firmware)


def tdx_config(root: Path, qemu: str, boot: str, net: str) -> Path:
    """A config with one tdx VM booted from BOOT on network NET, as a user writes it."""
    lines = [
        "[paths]",
        f'data_dir = "{root / "data"}"',
        f'state_dir = "{root / "st"}"',
        f'image_dir = "{IMAGES}"',
        "[qemu]",
        f'binary = "{qemu}"',
        "[vm.td]",
        'kind = "tdx"',
        'memory = "512M"',
        f'mrconfigid = "{"A" * 64}"',
    ]
    if boot == "disk":
        disk = root / "disk.img"
        disk.write_bytes(bytes(1 << 20))
        lines.append(f'image = "{disk}"')
    if net == "tap":
        lines.append(f'network = "tap:svt{root.name[-6:]}"')
    config = root / "config.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


@pytest.mark.parametrize("net", ["user", "tap"])
@pytest.mark.parametrize("boot", ["direct", "disk"])
def test_the_tdx_argv_reaches_the_hardware_stage_of_qemu_11(
    tdx_qemu: str, inteltdx_descriptor: Path, workdir: Path, boot: str, net: str
) -> None:
    config = tdx_config(workdir, tdx_qemu, boot, net)
    caps = json.loads(sevtui(config, "caps", "--json").stdout)
    assert {c["id"]: c["status"] for c in caps["checks"]}["qemu.tdx"] in ("pass", "skip")
    planned = sevtui(config, "vm", "argv", "td", "--json")
    assert planned.returncode == 0, planned.stderr
    argv = json.loads(planned.stdout)
    assert argv["blockers"] == []
    assert argv["firmware"]["descriptor"] == str(inteltdx_descriptor)
    assert argv["argv"][argv["argv"].index("-bios") + 1] == argv["firmware"]["file"]
    assert "SEPT_VE_DISABLE" in " ".join(argv["policy_flags"])
    if caps["profiles"]["tdx"]["launchable"]:
        pytest.skip("this host runs TDs: nothing stops at the hardware stage")
    refused = sevtui(config, "vm", "start", "td")
    assert refused.returncode != 0 and "cannot start 'td'" in refused.stderr
    started = sevtui(config, "vm", "start", "td", "--force", timeout=120)
    assert started.returncode == 1, started.stdout + started.stderr
    assert "QEMU failed to start" in started.stderr, started.stderr
    assert HARDWARE_STAGE.search(started.stderr), started.stderr
    assert not PARSE_OR_FILE_ERROR.search(started.stderr), started.stderr
    assert "why: " in started.stderr, "the QEMU error is not explained in plain words"
    assert "Traceback" not in started.stderr
