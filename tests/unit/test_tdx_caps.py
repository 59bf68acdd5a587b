"""`caps` on Intel TDX hosts, replayed from real hosts' kernel logs (tests/data/kernel-logs:
Sapphire and Emerald Rapids, mainline and vendor kernels, initialized and failing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sevtui.cli.commands import main
from sevtui.host.caps import CapabilityReport, assess
from sevtui.host.facts import gather
from sevtui.host.kvm import KvmVerdict
from sevtui.host.qemu import QemuInfo
from tests.sysroots import Machine, seed_host, tdx_host

QEMU_11 = QemuInfo(
    "/usr/bin/qemu-system-x86_64",
    (11, 1, 3),
    "QEMU emulator version 11.1.3",
    frozenset({"sev-guest", "sev-snp-guest", "tdx-guest"}),
)
KVM = KvmVerdict(True, "KVM ran a guest", verified=True)


def assessed(machine: Machine, tmp_path: Path, qemu: QemuInfo = QEMU_11) -> CapabilityReport:
    return assess(gather(machine.build(tmp_path / "root")), qemu, KVM)


@pytest.mark.parametrize(
    "log",
    [
        "tdx-host-canonical-tdx-385-build784.txt",
        "tdx-host-spr-8480c-canonical-tdx-283.txt",
        "tdx-host-lkml-vverma-7.0rc2-TDX-Module-initialized.txt",
        "tdx-host-emr-foxcreekpass-canonical-tdx-135.txt",
    ],
)
def test_an_initialized_tdx_host_can_launch_tdx(log: str, tmp_path: Path) -> None:
    report = assessed(tdx_host(log), tmp_path)
    assert report.profiles["tdx"].launchable, report.profiles["tdx"].reason
    assert report.verdict == "TDX ready" and report.ready
    assert report.check("tdx.module").status == "pass"
    assert not report.profiles["sev-snp"].launchable
    assert report.check("cpu.vendor").short == "no AMD SEV: Intel host"
    choice = report.firmware["tdx"]["disk"]
    assert choice.code == Path("/usr/share/ovmf/OVMF.inteltdx.ms.fd") and choice.as_bios


def test_the_module_version_is_read_from_the_log(tmp_path: Path) -> None:
    report = assessed(tdx_host("tdx-host-canonical-tdx-385-build784.txt"), tmp_path)
    assert report.check("tdx.module").evidence.startswith("TDX module 1.5 build 784 (20240725)")
    assert "[32, 64)" in report.check("tdx.bios").evidence
    assert report.tdx["keyids"] == "[32, 64)" and report.tdx["initialized"] is True


@pytest.mark.parametrize(
    ("log", "failing", "said"),
    [
        ("tdx-host-canonical-tdx-260-not-initialized.txt", "tdx.module", "no 'module initialized'"),
        ("tdx-host-canonical-tdx-33-oldformat-not-enabled.txt", "tdx.bios", "not enabled by BIOS"),
        ("tdx-host-canonical-tdx-331-init-failed-seamcall.txt", "tdx.module", "failed"),
        ("tdx-host-spr-8480c-canonical-tdx-25-seamcall-failed.txt", "tdx.module", "failed"),
    ],
)
def test_a_failing_tdx_host_says_which_step_failed(
    log: str, failing: str, said: str, tmp_path: Path
) -> None:
    report = assessed(tdx_host(log), tmp_path)
    assert not report.profiles["tdx"].launchable
    check = report.check(failing)
    assert check.status == "fail" and said in check.evidence, check.evidence
    assert check.hint
    assert report.profiles["tdx"].reason.startswith(check.title)


def test_kvm_intel_without_tdx_and_an_old_qemu_are_named(tmp_path: Path) -> None:
    machine = tdx_host("tdx-host-canonical-tdx-385-build784.txt", kvm_intel_tdx="N")
    report = assessed(machine, tmp_path)
    assert report.check("kvm_intel.tdx").status == "fail"
    assert "kvm_intel.tdx=1" in report.check("kvm_intel.tdx").hint
    old = QemuInfo("/usr/bin/qemu-system-x86_64", (8, 2, 2), "QEMU 8.2.2", frozenset())
    report = assessed(tdx_host("tdx-host-canonical-tdx-385-build784.txt"), tmp_path / "b", old)
    assert report.check("qemu.tdx").status == "fail"
    assert "QEMU 10.1 or later" in report.profiles["tdx"].reason


def test_the_module_sysfs_of_vendor_kernels_counts(tmp_path: Path) -> None:
    sysfs = {"status": "initialized", "major_version": "0x00000001",
             "minor_version": "0x00000005", "build_num": "0x000002ba"}  # fmt: skip
    machine = tdx_host("tdx-host-canonical-tdx-260-not-initialized.txt", tdx_module=sysfs)
    report = assessed(machine, tmp_path)
    assert report.check("tdx.module").status == "pass"
    assert report.check("tdx.module").evidence.startswith("TDX module 1.5 build 698")


def test_an_amd_host_skips_the_tdx_branch_with_the_reason(tmp_path: Path) -> None:
    report = assessed(seed_host(), tmp_path)
    assert report.check("tdx.cpu").status == "skip"
    assert "TDX is Intel's" in report.check("tdx.cpu").evidence
    assert not report.profiles["tdx"].launchable
    assert "TDX is Intel's" in report.profiles["tdx"].reason


def test_caps_require_tdx_exits_by_the_verdict(tmp_path: Path) -> None:
    root = tdx_host("tdx-host-canonical-tdx-260-not-initialized.txt").build(tmp_path / "r")
    assert main(["caps", "--sysroot", str(root), "--require", "tdx"]) == 1
    ready = tdx_host("tdx-host-canonical-tdx-385-build784.txt").build(tmp_path / "ok")
    assert main(["caps", "--sysroot", str(ready), "--require", "tdx"]) == 0
    amd = seed_host().build(tmp_path / "amd")
    assert main(["caps", "--sysroot", str(amd), "--require", "sev-snp"]) == 0
    assert main(["caps", "--sysroot", str(amd), "--require", "tdx"]) == 1


@pytest.mark.parametrize(
    "line",
    [
        "virt/tdx: initialization failed: Hibernation support is enabled",
        "virt/tdx: TDX module not loaded",
    ],
)
def test_mainlines_other_init_failures_name_the_cause(line: str, tmp_path: Path) -> None:
    """Wordings of mainline's arch/x86/virt/vmx/tdx/tdx.c, after the BIOS's KeyID line."""
    dmesg = ["[ 1.2] virt/tdx: BIOS enabled: private KeyID range [32, 64)", f"[ 9.9] {line}"]
    machine = tdx_host("tdx-host-canonical-tdx-385-build784.txt", dmesg=dmesg)
    report = assessed(machine, tmp_path)
    check = report.check("tdx.module")
    assert check.status == "fail" and line in check.evidence
    assert "nohibernate" in check.hint
