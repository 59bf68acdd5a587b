"""The system table's host facts from a replayed sysroot, and the firmware a QEMU argv
loads with the package that owns it."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from sevtui.host.platform import file_provenance, firmware_in_argv, platform_facts


def test_platform_facts_from_a_sysroot(tmp_path: Path) -> None:
    def put(relative: str, text: str) -> None:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    put(
        "proc/meminfo",
        "MemTotal:       263841792 kB\nHugePages_Total:       0\nHugepagesize:       2048 kB\n",
    )
    put("sys/devices/system/node/node0/meminfo", "Node 0 MemTotal:       131920896 kB\n")
    put("sys/devices/system/node/node1/meminfo", "Node 1 MemTotal:       131920896 kB\n")
    put("proc/sys/kernel/numa_balancing", "1\n")
    put("sys/devices/system/cpu/smt/control", "on\n")
    put("sys/devices/system/cpu/smt/active", "1\n")
    put("sys/kernel/mm/transparent_hugepage/enabled", "always [madvise] never\n")
    put("sys/devices/system/cpu/vulnerabilities/spectre_v2", "Mitigation: Retpolines\n")
    facts = platform_facts(tmp_path)
    assert facts["memory_bytes"] == 263841792 * 1024
    assert facts["numa_nodes"] == {"node0": 131920896 * 1024, "node1": 131920896 * 1024}
    assert (facts["numa_balancing"], facts["smt_control"], facts["smt_active"]) == (1, "on", True)
    assert (facts["thp"], facts["hugepages"], facts["hugepage_kb"]) == ("madvise", 0, 2048)
    assert facts["vulnerabilities"] == {"spectre_v2": "Mitigation: Retpolines"}


def test_an_empty_sysroot_says_nothing_rather_than_guessing(tmp_path: Path) -> None:
    facts = platform_facts(tmp_path)
    assert facts["memory_bytes"] is None and facts["numa_nodes"] == {}
    assert facts["numa_balancing"] is None and facts["smt_active"] is None


def test_the_firmware_a_qemu_argv_loads() -> None:
    assert firmware_in_argv(["qemu", "-bios", "/usr/share/ovmf/OVMF.amdsev.fd"]) == Path(
        "/usr/share/ovmf/OVMF.amdsev.fd"
    )
    pflash = "if=pflash,format=raw,unit=0,file=/usr/share/OVMF/OVMF_CODE_4M.fd,readonly=on"
    vars_ = "if=pflash,format=raw,unit=1,file=/st/OVMF_VARS.fd"
    assert firmware_in_argv(["qemu", "-drive", pflash, "-drive", vars_]) == Path(
        "/usr/share/OVMF/OVMF_CODE_4M.fd"
    )
    assert firmware_in_argv(["qemu", "-kernel", "vmlinuz"]) is None


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="not a Debian system")
def test_a_packaged_file_names_its_package_and_version() -> None:
    sh = Path("/bin/sh")  # a link, and a diverted file: dpkg names dash
    facts = file_provenance(sh)
    assert facts["sha256"] == hashlib.sha256(sh.resolve().read_bytes()).hexdigest()
    assert facts["package"] == "dash" and facts["package_version"]
