"""The Debian disk's assembly with the real tools (mkfs.fat, mtools, mkfs.ext4 -d, sfdisk)
on a small stand-in tree: what mmdebstrap makes is the only part left out here."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from sevtui.base.errors import SevtuiError
from sevtui.image import debian
from sevtui.image.debian import CLOUD_CFG, ESP_TYPE, ROOT_TYPE, SYSTEMD_BOOT

ROOT_UUID = "0b6c5d1e-6f1f-4a57-9d7e-3b7d1c2a4e55"


def stand_in_tree(root: Path) -> Path:
    """The files of a Debian tree the image steps touch."""
    tree = root / "tree"
    for folder in ("boot", "etc/ssh", "etc/cloud/cloud.cfg.d", Path(SYSTEMD_BOOT).parent):
        (tree / folder).mkdir(parents=True, exist_ok=True)
    (tree / "boot/vmlinuz-6.1.0-50-amd64").write_bytes(b"kernel" * 1000)
    (tree / "boot/initrd.img-6.1.0-50-amd64").write_bytes(b"initrd" * 1000)
    (tree / SYSTEMD_BOOT).write_bytes(b"MZ systemd-boot")
    (tree / "etc/ssh/ssh_host_ed25519_key").write_text("shared secret")
    (tree / "etc/machine-id").write_text("0123456789abcdef0123456789abcdef\n")
    return tree


def output(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def test_the_disk_is_a_gpt_with_a_bootable_esp_and_the_root_filesystem(tmp_path: Path) -> None:
    tree = stand_in_tree(tmp_path)
    source = tmp_path / "lua.tar.gz"
    source.write_bytes(b"tarball")
    kernel, initrd = debian._customize(tree, ROOT_UUID, [source])
    assert kernel.name == "vmlinuz-6.1.0-50-amd64" and initrd.name.startswith("initrd.img-")
    assert not list((tree / "etc/ssh").glob("ssh_host_*")), "no host key is shared by VMs"
    assert (tree / "etc/machine-id").read_text() == ""
    assert (tree / "etc/cloud/cloud.cfg.d/90_sevtui.cfg").read_text() == CLOUD_CFG
    assert (tree / "usr/share/sevtui/sources/lua.tar.gz").read_bytes() == b"tarball"
    masked = tree / "etc/systemd/system/redis-server.service"
    assert masked.is_symlink() and str(masked.readlink()) == "/dev/null"

    tools = debian._tools()
    esp = debian._esp_image(tmp_path, tools, kernel, initrd, ROOT_UUID)
    assert "BOOTX64  EFI" in output("mdir", "-i", str(esp), "::/EFI/BOOT")
    entry = output("mtype", "-i", str(esp), "::/loader/entries/debian.conf")
    assert f"root=UUID={ROOT_UUID}" in entry and "console=ttyS0" in entry
    assert output("mtype", "-i", str(esp), "::/vmlinuz") == "kernel" * 1000

    rootfs = debian._root_image(tmp_path, tools, tree, ROOT_UUID)
    fstab = output("debugfs", "-R", "cat /etc/fstab", str(rootfs))
    assert fstab.startswith(f"UUID={ROOT_UUID} / ext4")
    assert ROOT_UUID in output("dumpe2fs", "-h", str(rootfs))

    raw = debian._assemble(tmp_path, tools, esp, rootfs)
    table = json.loads(output("sfdisk", "--json", str(raw)))["partitiontable"]
    assert table["label"] == "gpt"
    first, second = table["partitions"]
    assert (first["type"], second["type"]) == (ESP_TYPE, ROOT_TYPE)
    assert first["start"] * 512 == debian.ALIGN and second["start"] * 512 % debian.ALIGN == 0
    with raw.open("rb") as disk:
        disk.seek(first["start"] * 512)
        assert disk.read(4096) == esp.read_bytes()[:4096]
        disk.seek(second["start"] * 512 + 1024)
        assert disk.read(1024) == rootfs.read_bytes()[1024:2048], "the ext4 superblock"


def test_a_missing_build_tool_is_named_with_its_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(debian, "TOOLS", {"mmdebstrap-missing": "mmdebstrap"})
    with pytest.raises(SevtuiError, match="needs mmdebstrap") as caught:
        debian._tools()
    assert caught.value.hint == "sudo apt-get install mmdebstrap"


def test_the_input_key_follows_the_mirror() -> None:
    assert debian.input_key("http://a/debian") != debian.input_key("http://b/debian")
    assert debian.input_key("http://a/debian") == debian.input_key("http://a/debian")
