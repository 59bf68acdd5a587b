"""Cloud image preparation (real qemu-img, ssh-keygen, cloud-localds) and external QEMUs."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from sevtui.config import Config
from tests.conftest import sevtui

pytestmark = pytest.mark.slow


def test_prepare_cloud_makes_private_files(vm_config_file: Path, vm_config: Config) -> None:
    base = vm_config_file.parent / "base.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(base), "64M"], check=True)
    done = sevtui(vm_config_file, "image", "prepare-cloud", "--base", str(base), "--vm", "demo",
                  "--grow", "32M")  # fmt: skip
    assert done.returncode == 0, done.stderr
    root = vm_config.paths.data_dir / "vms" / "demo"
    info = json.loads(
        subprocess.run(
            ["qemu-img", "info", "--output=json", str(root / "disk.img")],
            capture_output=True, text=True, check=True,
        ).stdout
    )  # fmt: skip
    assert info["virtual-size"] == 96 << 20 and info["format"] == "raw"
    assert (root / "ssh").stat().st_mode & 0o777 == 0o700
    assert root.stat().st_mode & 0o777 == 0o700
    for name in ("disk.img", "seed.iso", "user-data.yaml", "network-config.yaml", "ssh/id_ed25519"):
        assert (root / name).stat().st_mode & 0o777 == 0o600, name
    user_data = (root / "user-data.yaml").read_text()
    public = (root / "ssh/id_ed25519.pub").read_text().strip()
    assert public in user_data and "ssh_pwauth: false" in user_data
    assert "password" not in done.stdout + done.stderr
    assert 'set in [vm.demo] of config.toml: image = "cloud"' in done.stdout
    again = sevtui(vm_config_file, "image", "prepare-cloud", "--base", str(base), "--vm", "demo")
    assert again.returncode == 2 and "--force" in again.stderr, "the VM's disk is kept"
    assert (root / "disk.img").stat().st_size == 96 << 20


def test_prepare_cloud_bad_input(vm_config_file: Path) -> None:
    missing = sevtui(vm_config_file, "image", "prepare-cloud", "--base", "/nope", "--vm", "demo")
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    unknown = sevtui(vm_config_file, "image", "prepare-cloud", "--base", "/nope", "--vm", "zz")
    assert unknown.returncode == 2 and "no VM named 'zz'" in unknown.stderr


def test_external_qemu_is_listed_with_its_mode(vm_config_file: Path) -> None:
    argv = ["qemu-system-x86_64", "-name", "guest=hand-made", "-accel", "tcg", "-smp", "2",
            "-m", "128", "-nodefaults", "-display", "none", "-S"]  # fmt: skip
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        rows = json.loads(sevtui(vm_config_file, "vm", "list", "--json").stdout)
        external = [row for row in rows if row["pid"] == proc.pid]
        assert len(external) == 1
        row = external[0]
        assert row["external"] is True and row["name"] == "hand-made"
        assert (row["kind"], row["vcpus"], row["memory"], row["accel"]) == (
            "nosev", 2, 128 << 20, "tcg")  # fmt: skip
    finally:
        proc.kill()
        proc.wait()


def test_a_qemu_another_sevtui_started_is_listed_as_external(vm_config_file: Path) -> None:
    """`-name X,process=sevtui-X` renames the process: it must still be found."""
    argv = ["qemu-system-x86_64", "-name", "elsewhere,process=sevtui-elsewhere", "-accel",
            "tcg", "-m", "128", "-nodefaults", "-display", "none", "-S"]  # fmt: skip
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        rows = json.loads(sevtui(vm_config_file, "vm", "list", "--json").stdout)
        found = [row for row in rows if row["pid"] == proc.pid]
        assert len(found) == 1 and found[0]["external"] is True
        assert found[0]["name"] == "elsewhere"
    finally:
        proc.kill()
        proc.wait()
