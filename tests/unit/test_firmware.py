"""Firmware chosen from QEMU's firmware descriptors, as libvirt chooses it.

The inputs are real descriptors: Debian 12's three (`ovmf` 2022.11) and the AmdSev one of
Debian's `ovmf-amdsev`, installed into a fake sysroot with their firmware files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sevtui.base.kinds import VmKind
from sevtui.host import firmware
from sevtui.host.firmware import canonical_machine, choose, descriptor_dirs, load_descriptors
from tests.conftest import sevtui
from tests.sysroots import DATA

DESCRIPTORS = DATA / "firmware"
Q35 = "pc-q35-10.0"


def install(root: Path, source: Path, folder: str = "usr/share/qemu/firmware") -> Path:
    """Copy descriptor SOURCE below ROOT/FOLDER, its firmware files made real under ROOT."""
    text = source.read_text().replace('"/usr/share/', f'"{root}/usr/share/')
    for entry in json.loads(text)["mapping"].values():
        name = entry["filename"] if isinstance(entry, dict) else entry
        if isinstance(name, str) and name.startswith(str(root)):
            Path(name).parent.mkdir(parents=True, exist_ok=True)
            Path(name).write_bytes(b"firmware")
    target = root / folder / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target


@pytest.fixture
def debian12(tmp_path: Path) -> Path:
    """A sysroot with Debian 12's descriptors and firmware files."""
    for source in sorted((DESCRIPTORS / "debian12").iterdir()):
        install(tmp_path, source)
    return tmp_path


def descriptors(root: Path, user: Path | None = None) -> list[firmware.Descriptor]:
    dirs = descriptor_dirs(root, {})
    found, problems = load_descriptors([*dirs, *([user] if user else [])])
    assert problems == []
    return found


def test_debian12_gives_sev_its_flash_build_with_an_nvram_template(debian12: Path) -> None:
    choice = choose(descriptors(debian12), "sev", Q35, direct_boot=False)
    assert choice.code == debian12 / "usr/share/OVMF/OVMF_CODE_4M.fd"
    assert choice.vars_template == debian12 / "usr/share/OVMF/OVMF_VARS_4M.fd"
    assert not choice.as_bios
    assert choice.descriptor is not None and choice.descriptor.name == "60-edk2-x86_64.json"


def test_debian12_skips_the_secure_boot_builds_that_need_smm(debian12: Path) -> None:
    """40-...-secure-enrolled also lists amd-sev, but requires SMM: libvirt order, SMM rule."""
    choice = choose(descriptors(debian12), "nosev", Q35, direct_boot=False)
    assert choice.descriptor is not None and choice.descriptor.name == "60-edk2-x86_64.json"


@pytest.mark.parametrize(
    ("kind", "direct"),
    [("sev", True), ("sev-es", True), ("sev-es", False), ("sev-snp", True), ("sev-snp", False)],
)
def test_debian12_has_nothing_for_measured_boot_sev_es_or_snp(
    debian12: Path, kind: VmKind, direct: bool
) -> None:
    choice = choose(descriptors(debian12), kind, Q35, direct_boot=direct)
    assert choice.code is None
    assert "ovmf-amdsev" in choice.problem
    assert firmware.KIND_FEATURE[kind] in choice.problem


def test_a_normal_direct_boot_needs_no_firmware(debian12: Path) -> None:
    assert choose(descriptors(debian12), "nosev", Q35, direct_boot=True).code is None
    assert choose(descriptors(debian12), "nosev", Q35, direct_boot=True).problem == ""


@pytest.mark.parametrize("kind", ["sev", "sev-es", "sev-snp"])
def test_the_amdsev_descriptor_in_xdg_config_home_serves_every_confidential_kind(
    debian12: Path, kind: VmKind
) -> None:
    user = debian12 / "home/.config/qemu/firmware"
    install(debian12, DESCRIPTORS / "60-edk2-x86_64-amdsev.json", "home/.config/qemu/firmware")
    for direct in (True, False):
        choice = choose(descriptors(debian12, user), kind, Q35, direct_boot=direct)
        if kind == "sev" and not direct:
            # The flash build sorts after the AmdSev one by name but fits as well.
            assert choice.code is not None
            continue
        assert choice.code == debian12 / "usr/share/ovmf/OVMF.amdsev.fd"
        assert choice.as_bios and choice.vars_template is None


def test_a_normal_guest_prefers_flash_firmware_over_the_amdsev_image(debian12: Path) -> None:
    user = debian12 / "home/.config/qemu/firmware"
    install(debian12, DESCRIPTORS / "60-edk2-x86_64-amdsev.json", "home/.config/qemu/firmware")
    choice = choose(descriptors(debian12, user), "nosev", Q35, direct_boot=False)
    assert choice.code == debian12 / "usr/share/OVMF/OVMF_CODE_4M.fd"


def test_a_later_folder_replaces_a_descriptor_of_the_same_name(debian12: Path) -> None:
    """/etc/qemu/firmware/60-edk2-x86_64.json without amd-sev hides the system one."""
    data = json.loads((debian12 / "usr/share/qemu/firmware/60-edk2-x86_64.json").read_text())
    data["features"] = ["acpi-s3"]
    override = debian12 / "etc/qemu/firmware/60-edk2-x86_64.json"
    override.parent.mkdir(parents=True)
    override.write_text(json.dumps(data))
    choice = choose(descriptors(debian12), "sev", Q35, direct_boot=False)
    assert choice.code is None and "amd-sev" in choice.problem


def test_firmware_that_is_not_installed_is_skipped_and_named(tmp_path: Path) -> None:
    folder = tmp_path / "usr/share/qemu/firmware"
    folder.mkdir(parents=True)
    text = (DESCRIPTORS / "debian12/60-edk2-x86_64.json").read_text()
    (folder / "60-edk2-x86_64.json").write_text(text.replace('"/usr/', f'"{tmp_path}/usr/'))
    found, _ = load_descriptors([folder])
    choice = choose(found, "sev", Q35, direct_boot=False)
    assert choice.code is None
    assert "60-edk2-x86_64.json names files that are not installed" in choice.problem


def test_the_machine_type_must_match_the_descriptor_targets(debian12: Path) -> None:
    user = debian12 / "home/.config/qemu/firmware"
    install(debian12, DESCRIPTORS / "60-edk2-x86_64-amdsev.json", "home/.config/qemu/firmware")
    found = descriptors(debian12, user)
    assert choose(found, "sev-snp", "pc-i440fx-10.0", direct_boot=True).code is None
    assert choose(found, "sev-snp", canonical_machine("q35", {}), direct_boot=True).code
    assert canonical_machine("q35", {"q35": "pc-q35-7.2"}) == "pc-q35-7.2"
    assert canonical_machine("microvm", {}) == "microvm"


def test_broken_descriptors_are_reported_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "10-broken.json").write_text("{ not json")
    (tmp_path / "20-no-mapping.json").write_text("{}")
    (tmp_path / "30-huge.json").write_bytes(b" " * (firmware.MAX_DESCRIPTOR_BYTES + 1))
    found, problems = load_descriptors([tmp_path])
    assert found == []
    assert [line.split(": ", 1)[1].split(":")[0] for line in problems] == [
        "not JSON",
        "no 'mapping' object",
        f"larger than {firmware.MAX_DESCRIPTOR_BYTES} bytes",
    ]


def test_the_user_folder_is_read_only_on_the_live_machine(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": "/home/u/.config"}
    assert descriptor_dirs(Path("/"), env)[-1] == Path("/home/u/.config/qemu/firmware")
    assert descriptor_dirs(Path("/"), {"HOME": "/home/v"})[-1] == Path(
        "/home/v/.config/qemu/firmware"
    )
    assert descriptor_dirs(tmp_path, env) == [
        tmp_path / "usr/share/qemu/firmware",
        tmp_path / "etc/qemu/firmware",
    ]


def test_a_vms_own_firmware_wins_over_every_descriptor(tmp_path: Path, private_xdg: Path) -> None:
    install(tmp_path, DESCRIPTORS / "60-edk2-x86_64-amdsev.json", "xdg/config/qemu/firmware")
    own = tmp_path / "my-OVMF.fd"
    own.write_bytes(b"firmware")
    config = tmp_path / "config.toml"
    config.write_text(
        f'[paths]\nstate_dir = "{tmp_path / "s"}"\n[qemu]\nsnp_dialect = "upstream"\n'
        f'[vm.snp]\nkind = "sev-snp"\nfirmware = "{own}"\n'
        f'[vm.auto]\nkind = "sev-snp"\n'
    )
    mine = json.loads(sevtui(config, "vm", "argv", "snp", "--json").stdout)
    assert mine["argv"][mine["argv"].index("-bios") + 1] == str(own)
    assert mine["firmware"]["descriptor"] is None and mine["blockers"] == []
    chosen = json.loads(sevtui(config, "vm", "argv", "auto", "--json").stdout)
    assert chosen["firmware"]["descriptor"] == str(
        private_xdg / "config/qemu/firmware/60-edk2-x86_64-amdsev.json"
    )
