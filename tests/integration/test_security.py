"""sevtui runs as root: attacks set up as another user must leave victims alive and decoys
unchanged (state folders and files that are not ours, symbolic links, forged vm.json)."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.conftest import sevtui

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.getuid() != 0, reason="the attacks need root and a second user"),
]

NOBODY = pwd.getpwnam("nobody").pw_uid


def state_dir(config: Path) -> Path:
    return config.parent / "st"


@pytest.fixture
def victim() -> Iterator[psutil.Process]:
    """An unrelated root process an attacker would like sevtui to kill."""
    proc = subprocess.Popen(["sleep", "300"], stdin=subprocess.DEVNULL)
    yield psutil.Process(proc.pid)
    proc.kill()
    proc.wait()


def forge_vm_json(folder: Path, victim: psutil.Process) -> None:
    record = {"pid": victim.pid, "create_time": victim.create_time(), "exe": victim.exe()}
    (folder / "vm.json").write_text(json.dumps(record))


def test_a_state_folder_another_user_owns_is_refused_and_nothing_is_signalled(
    vm_config_file: Path, victim: psutil.Process
) -> None:
    demo = state_dir(vm_config_file) / "vms" / "demo"
    demo.mkdir(parents=True)
    for folder in (demo.parent.parent, demo.parent, demo):
        os.chown(folder, NOBODY, NOBODY)
        folder.chmod(0o777)
    forge_vm_json(demo, victim)
    os.chown(demo / "vm.json", NOBODY, NOBODY)
    stopped = sevtui(vm_config_file, "vm", "stop", "demo")
    assert stopped.returncode == 1, stopped.stdout + stopped.stderr
    assert "refusing to use" in stopped.stderr and f"owned by uid {NOBODY}" in stopped.stderr
    assert "Traceback" not in stopped.stderr
    time.sleep(0.5)
    assert victim.is_running() and victim.status() != psutil.STATUS_ZOMBIE
    listed = sevtui(vm_config_file, "vm", "list")
    assert listed.returncode == 0 and "refusing to use" in listed.stdout


def test_a_world_writable_state_folder_is_refused(
    vm_config_file: Path, victim: psutil.Process
) -> None:
    demo = state_dir(vm_config_file) / "vms" / "demo"
    demo.mkdir(parents=True, mode=0o700)
    demo.chmod(0o777)
    forge_vm_json(demo, victim)
    stopped = sevtui(vm_config_file, "vm", "stop", "demo")
    assert stopped.returncode == 1 and "writable by group or others" in stopped.stderr
    assert victim.is_running()


def test_a_forged_record_in_our_own_folder_does_not_kill_a_process_that_is_not_our_qemu(
    vm_config_file: Path, victim: psutil.Process
) -> None:
    demo = state_dir(vm_config_file) / "vms" / "demo"
    demo.mkdir(parents=True, mode=0o700)
    for folder in (demo.parent.parent, demo.parent):
        folder.chmod(0o700)
    forge_vm_json(demo, victim)
    demo.joinpath("vm.json").chmod(0o600)
    stopped = sevtui(vm_config_file, "vm", "stop", "demo")
    assert stopped.returncode == 2 and "not running" in stopped.stderr
    assert victim.is_running()


def test_a_symlinked_state_folder_is_refused_and_its_target_untouched(
    vm_config_file: Path, tmp_path: Path
) -> None:
    decoy = tmp_path / "decoy"
    decoy.mkdir(mode=0o755)
    decoy.chmod(0o755)
    for name in ("vm.json", "stderr.log", "qemu.pid", "serial.log"):
        (decoy / name).write_text("precious")
    vms = state_dir(vm_config_file) / "vms"
    vms.mkdir(parents=True, mode=0o700)
    vms.parent.chmod(0o700)
    (vms / "demo").symlink_to(decoy)
    started = sevtui(vm_config_file, "vm", "start", "demo")
    assert started.returncode == 1 and "is a symbolic link" in started.stderr
    assert oct(decoy.stat().st_mode & 0o777) == oct(0o755)
    assert all(
        (decoy / n).read_text() == "precious"
        for n in ("vm.json", "stderr.log", "qemu.pid", "serial.log")
    )


def test_a_symlinked_serial_log_is_replaced_not_followed(
    vm_config_file: Path, tmp_path: Path
) -> None:
    decoy = tmp_path / "decoy.txt"
    decoy.write_text("precious")
    decoy.chmod(0o644)
    demo = state_dir(vm_config_file) / "vms" / "demo"
    demo.mkdir(parents=True, mode=0o700)
    for folder in (demo.parent.parent, demo.parent):
        folder.chmod(0o700)
    (demo / "serial.log").symlink_to(decoy)
    try:
        started = sevtui(vm_config_file, "vm", "start", "demo", timeout=180)
        assert started.returncode == 0, started.stderr[-2000:]
        assert not (demo / "serial.log").is_symlink()
        assert decoy.read_text() == "precious" and oct(decoy.stat().st_mode & 0o777) == oct(0o644)
    finally:
        sevtui(vm_config_file, "vm", "stop", "demo", "--kill")
