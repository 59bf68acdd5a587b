"""Reading a foreign QEMU command line: name, SEV mode, accel, size."""

from __future__ import annotations

import shlex

import pytest

from sevtui.vm.monitor import describe_argv
from tests.sysroots import DATA


def seed(name: str) -> list[str]:
    return shlex.split((DATA / name).read_text())


def test_seed_snp_guest_is_recognised() -> None:
    found = describe_argv(3115638, seed("seed-snp-argv.txt"))
    assert (found.kind, found.accel, found.vcpus, found.memory) == ("sev-snp", "kvm", 16, 16 << 30)
    assert found.name == "pid-3115638"


def test_seed_normal_guest_is_recognised() -> None:
    found = describe_argv(3095337, seed("seed-nosev-argv.txt"))
    assert (found.kind, found.accel, found.vcpus, found.memory) == ("nosev", "kvm", 16, 16 << 30)


@pytest.mark.parametrize(("policy", "kind"), [("0x1", "sev"), ("0x5", "sev-es"), ("7", "sev-es")])
def test_sev_and_sev_es_by_policy(policy: str, kind: str) -> None:
    argv = ["qemu-system-x86_64", "-name", "x,debug-threads=on", "-machine", "q35,accel=kvm",
            "-object", f"sev-guest,id=sev0,policy={policy},cbitpos=47", "-m", "2G"]  # fmt: skip
    found = describe_argv(1, argv)
    assert (found.name, found.kind, found.accel, found.memory) == ("x", kind, "kvm", 2 << 30)
