"""Every kind of guest sevtui builds, fed to a real upstream QEMU (>= 9.1) and to QEMU 7.2.

`make test` unpacks Debian's bookworm-backports QEMU and the `ovmf-amdsev` firmware into
.cache/upstream-qemu (tests/tools/upstream-qemu.sh); nothing is installed. Each argv must
get past QEMU's option parsing: confidential guests as far as this host allows (the C-bit
check, KVM's vm-type, /dev/sev), normal guests to a running QEMU. A property, parse or
file error fails the test.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sevtui.host.qemu import probe_qemu
from tests.conftest import IMAGES, sevtui

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache/upstream-qemu/root"
HARDWARE_STAGE = re.compile(
    r"cbitpos check failed|vm-type SEV(-ES|-SNP)? not supported by KVM|/dev/sev|"
    r"KVM_SEV|sev_kvm_init|Could not access KVM kernel module|failed to initialize kvm"
)
PARSE_OR_FILE_ERROR = re.compile(
    r"[Pp]roperty|[Pp]arameter '|Invalid parameter|invalid object type|not equal to|"
    r"Could not open|could not load|No such file|unknown option|Unexpected|invalid option"
)


@pytest.fixture(scope="module")
def upstream_qemu() -> tuple[str, list[str]]:
    """QEMU >= 9.1 and the -L data dir it needs: the unpacked one, else the system's."""
    unpacked = CACHE / "usr/bin/qemu-system-x86_64"
    if unpacked.is_file():
        return str(unpacked), ["-L", str(CACHE / "usr/share/qemu")]
    os_release = Path("/etc/os-release").read_text()
    if 'VERSION_ID="12"' in os_release and "ID=debian" in os_release:
        pytest.fail("no upstream QEMU in .cache/upstream-qemu: run `make upstream-qemu`")
    system = probe_qemu("qemu-system-x86_64")
    if system.version < (9, 1, 0):
        pytest.skip(f"no QEMU >= 9.1 here ({system.version_text}) and not Debian 12")
    return system.path, []


def unpacked_descriptor(private_xdg: Path, source: Path, firmware: Path) -> Path:
    """Debian's descriptor SOURCE in $XDG_CONFIG_HOME, pointing at the unpacked FIRMWARE."""
    if not firmware.is_file():
        pytest.fail(f"no {firmware.name} in {firmware.parents[3]}: run `make upstream-qemu`")
    data = json.loads(source.read_text())
    data["mapping"]["filename"] = str(firmware)
    target = private_xdg / "config/qemu/firmware" / source.name
    target.parent.mkdir(parents=True)
    target.write_text(json.dumps(data))
    return target


@pytest.fixture
def amdsev_descriptor(private_xdg: Path) -> Path:
    """Debian's ovmf-amdsev descriptor in $XDG_CONFIG_HOME, pointing at the unpacked file."""
    source = CACHE / "usr/share/qemu/firmware/60-edk2-x86_64-amdsev.json"
    return unpacked_descriptor(private_xdg, source, CACHE / "usr/share/ovmf/OVMF.amdsev.fd")


def write_config(root: Path, qemu: str, extra: list[str], kind: str, boot: str, net: str) -> Path:
    """A config like a user writes it: one VM of KIND, booted from BOOT, on network NET."""
    lines = [
        "[paths]",
        f'data_dir = "{root / "data"}"',
        f'state_dir = "{root / "st"}"',
        f'image_dir = "{IMAGES}"',
        "[qemu]",
        f'binary = "{qemu}"',
        'accel = "tcg"',
        "[vm.g]",
        f'kind = "{kind}"',
        'memory = "256M"',
        f"extra_args = {json.dumps(extra)}",
    ]
    if boot == "disk":
        disk = root / "disk.img"
        disk.write_bytes(bytes(1 << 20))
        lines.append(f'image = "{disk}"')
    if net == "tap":
        lines.append(f'network = "tap:svt{root.name[-6:]}"')
    if kind == "sev-snp":
        lines.append('host_data = "b2l3bmNvd3FuY21wbXAAAAAAAAAAAAAAAAAAAAAAAAA="')
    config = root / "config.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


def assert_reaches_the_hardware_stage(config: Path) -> str:
    """Start the VM with --force: QEMU must stop only where this host lacks SEV."""
    started = sevtui(config, "vm", "start", "g", "--force", timeout=120)
    assert started.returncode == 1, started.stdout + started.stderr
    assert "QEMU failed to start" in started.stderr, started.stderr
    assert HARDWARE_STAGE.search(started.stderr), started.stderr
    assert not PARSE_OR_FILE_ERROR.search(started.stderr), started.stderr
    assert "why: " in started.stderr, "the QEMU error is not explained in plain words"
    return started.stderr


@pytest.mark.parametrize("net", ["user", "tap"])
@pytest.mark.parametrize("boot", ["direct", "disk"])
@pytest.mark.parametrize("kind", ["sev", "sev-es", "sev-snp"])
def test_confidential_argv_gets_past_upstream_qemus_option_parsing(
    upstream_qemu: tuple[str, list[str]],
    amdsev_descriptor: Path,
    workdir: Path,
    kind: str,
    boot: str,
    net: str,
) -> None:
    qemu, extra = upstream_qemu
    config = write_config(workdir, qemu, extra, kind, boot, net)
    planned = sevtui(config, "vm", "argv", "g", "--json")
    assert planned.returncode == 0, planned.stderr
    argv = json.loads(planned.stdout)
    assert argv["blockers"] == []
    assert argv["firmware"]["descriptor"] == str(amdsev_descriptor)
    assert argv["argv"][argv["argv"].index("-bios") + 1] == argv["firmware"]["file"]
    stderr = assert_reaches_the_hardware_stage(config)
    if kind == "sev-snp":
        assert "vm-type SEV-SNP not supported by KVM" in stderr or "/dev/kvm" in stderr


def test_sev_with_debian12s_own_firmware_descriptor(
    upstream_qemu: tuple[str, list[str]], workdir: Path
) -> None:
    """No descriptor of ours: Debian's 60-edk2-x86_64.json (amd-sev, flash) is chosen."""
    if not Path("/usr/share/qemu/firmware/60-edk2-x86_64.json").is_file():
        pytest.fail("Debian's ovmf package is missing: `make system-deps` installs it")
    qemu, extra = upstream_qemu
    config = write_config(workdir, qemu, extra, "sev", "disk", "user")
    argv = json.loads(sevtui(config, "vm", "argv", "g", "--json").stdout)
    assert argv["firmware"]["descriptor"] == "/usr/share/qemu/firmware/60-edk2-x86_64.json"
    assert any(arg.startswith("if=pflash,format=raw,unit=1,file=") for arg in argv["argv"])
    assert_reaches_the_hardware_stage(config)


def test_direct_boot_sev_without_the_amdsev_build_is_refused_with_the_package(
    upstream_qemu: tuple[str, list[str]], workdir: Path
) -> None:
    qemu, extra = upstream_qemu
    config = write_config(workdir, qemu, extra, "sev-snp", "direct", "user")
    started = sevtui(config, "vm", "start", "g", "--force")
    assert started.returncode == 1
    assert "no firmware for sev-snp with direct kernel boot" in started.stderr
    assert "ovmf-amdsev" in started.stderr
    caps = json.loads(sevtui(config, "caps", "--json").stdout)
    assert "ovmf-amdsev" in caps["firmware"]["sev-snp"]["direct"]["problem"]


@pytest.mark.parametrize(
    ("which", "boot", "net"),
    [
        ("upstream", "direct", "user"),
        ("upstream", "direct", "tap"),
        ("upstream", "disk", "user"),
        ("upstream", "disk", "tap"),
        ("system", "direct", "user"),
        ("system", "direct", "tap"),
    ],
)
def test_normal_argv_runs(
    upstream_qemu: tuple[str, list[str]], workdir: Path, which: str, boot: str, net: str
) -> None:
    """The nosev argv starts and keeps running; direct boot waits for the guest's shell."""
    qemu, extra = upstream_qemu if which == "upstream" else ("qemu-system-x86_64", [])
    config = write_config(workdir, qemu, extra, "nosev", boot, net)
    started = sevtui(config, "vm", "start", "g", timeout=240)
    assert started.returncode == 0, started.stderr
    if boot == "direct":
        assert "ready after" in started.stdout
        answer = sevtui(config, "vm", "exec", "g", "--", "echo", "up")
        assert answer.stdout.strip() == "up", answer.stderr
    listing = json.loads(sevtui(config, "vm", "list", "--json").stdout)
    ours = [row for row in listing if row["name"] == "g" and not row["external"]]
    assert [row["state"] for row in ours] == ["running"], "another QEMU named g is not ours"
    stopped = sevtui(config, "vm", "stop", "g", "--kill")
    assert stopped.returncode == 0, stopped.stderr
