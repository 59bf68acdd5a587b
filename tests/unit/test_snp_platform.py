"""The SEV platform checks, replayed from real hosts' kernel logs (tests/data/kernel-logs,
each naming its public source) and from SNP_PLATFORM_STATUS replies packed by hand from
the kernel's struct sev_user_data_snp_status."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from sevtui.cli.commands import main
from sevtui.host.caps import CapabilityReport, assess
from sevtui.host.facts import gather
from sevtui.host.kvm import KvmVerdict
from sevtui.host.qemu import QemuInfo
from sevtui.host.sevplatform import RECORDED_STATUS, decode_snp_status, read_log
from tests.sysroots import DATA, Machine, seed_host

LOGS = DATA / "kernel-logs"
QEMU_SNP = QemuInfo(
    "/usr/bin/qemu", (10, 0, 2), "QEMU 10.0.2", frozenset({"sev-guest", "sev-snp-guest"})
)
MILAN_TCB = 0x7308000000000003
"""The current and reported TCB of the real Milan report in tests/data/snp-attestation."""


def logged_lines(name: str) -> list[str]:
    """The kernel's own lines of a fixture: no comments, no shell prompts."""
    text = (LOGS / name).read_text().splitlines()
    return [
        line
        for line in text
        if line.strip() and not line.startswith("#") and "dmesg" not in line and "$ " not in line
    ]


def status_reply(
    api: tuple[int, int] = (1, 55),
    state: int = 1,
    rmp: int = 1,
    flags: int = 0,
    tcbs: tuple[int, int] = (MILAN_TCB, MILAN_TCB),
) -> bytes:
    """SNP_PLATFORM_STATUS as the firmware returns it: 32 packed little-endian bytes."""
    return struct.pack("<BBBBIIIQQ", *api, state, rmp, 21, flags, 1, *tcbs)


def machine_root(tmp_path: Path, log: str | None, status: bytes | None = None) -> Path:
    machine: Machine = seed_host()
    if log is not None:
        machine.dmesg = logged_lines(log)
    root = machine.build(tmp_path / "root")
    if status is not None:
        (root / RECORDED_STATUS).parent.mkdir(parents=True)
        (root / RECORDED_STATUS).write_bytes(status)
    return root


def host(tmp_path: Path, log: str | None, status: bytes | None = None) -> CapabilityReport:
    facts = gather(machine_root(tmp_path, log, status))
    return assess(facts, QEMU_SNP, KvmVerdict(True, "booted"))


def statuses(report: CapabilityReport) -> dict[str, str]:
    ids = ("sev.asids_es", "sev.asids_sev", "snp.firmware", "snp.init", "snp.rmp", "iommu.snp")
    return {check_id: report.check(check_id).status for check_id in ids}


def test_a_healthy_genoa_host_passes_every_platform_check(tmp_path: Path) -> None:
    report = host(tmp_path, "snp-host-amdsev253-6.11rc3.txt")
    assert statuses(report) == {
        "sev.asids_es": "pass",
        "sev.asids_sev": "pass",
        "snp.firmware": "pass",
        "snp.init": "pass",
        "snp.rmp": "pass",
        "iommu.snp": "warn",
    }, "this 6.11 log does not print IOMMU SNP support"
    assert "252 for SEV-ES" in report.check("sev.asids_es").evidence
    assert "754 for SEV" in report.check("sev.asids_sev").evidence, "253..1006"
    assert "SEV-SNP API:1.55 build:24" in report.check("snp.firmware").evidence
    assert "0x0000007fcd100000 - 0x000000804d6fffff" in report.check("snp.rmp").evidence
    assert report.verdict == "SEV-SNP ready"


def test_no_asids_for_sev_es_in_the_log_stops_es_and_snp_with_the_bios_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Dell R7515 (AMDESE/AMDSEV#84): 'SEV supported: 509 ASIDs' and no SEV-ES line."""
    report = host(tmp_path, "snp-host-dell-r7515-amdsev84-no-es-asids.txt")
    check = report.check("sev.asids_es")
    assert check.status == "fail" and "0 for SEV-ES" in check.evidence
    assert {k: v.launchable for k, v in report.profiles.items()} == {
        "nosev": True,
        "sev": True,
        "sev-es": False,
        "sev-snp": False,
        "tdx": False,
    }
    assert report.verdict == "SEV ready"
    root = tmp_path / "root"
    assert main(["caps", "--sysroot", str(root), "--require", "sev-snp"]) == 1
    assert "SEV-ES ASID Space Limit" in capsys.readouterr().out


def test_all_asids_to_sev_es_stops_plain_sev_only(tmp_path: Path) -> None:
    """'SEV enabled (ASIDs 17 - 16)': the BIOS gave every ASID to SEV-ES/SNP."""
    machine = seed_host()
    machine.dmesg = [
        "[ 5.2] ccp 0000:22:00.1: SEV-SNP API:1.55 build:21",
        "[ 6.0] kvm_amd: SEV enabled (ASIDs 17 - 16)",
        "[ 6.0] kvm_amd: SEV-ES enabled (ASIDs 1 - 16)",
        "[ 6.0] kvm_amd: SEV-SNP enabled (ASIDs 1 - 16)",
    ]
    report = assess(gather(machine.build(tmp_path / "root")), QEMU_SNP, KvmVerdict(True, "ok"))
    assert report.check("sev.asids_sev").status == "fail"
    assert {k: v.launchable for k, v in report.profiles.items()} == {
        "nosev": True,
        "sev": False,
        "sev-es": True,
        "sev-snp": True,
        "tdx": False,
    }


def test_one_asid_for_snp_is_enough(tmp_path: Path) -> None:
    report = host(tmp_path, "snp-host-amdsev287-6.16-asid-1.txt")
    assert report.check("sev.asids_es").status == "pass"
    assert "1 for SEV-ES" in report.check("sev.asids_es").evidence
    assert report.profiles["sev-snp"].launchable


def test_an_rmp_table_the_bios_did_not_reserve_fails_snp(tmp_path: Path) -> None:
    report = host(tmp_path, "snp-host-hpe-amdsev197-rmp-not-reserved-partial.txt")
    check = report.check("snp.rmp")
    assert check.status == "fail" and "not been reserved by BIOS" in check.evidence
    assert "SNP Memory Coverage" in check.hint
    assert not report.profiles["sev-snp"].launchable
    assert "RMP table" in report.profiles["sev-snp"].reason


def test_firmware_older_than_1_51_fails_snp_with_the_update_as_fix(tmp_path: Path) -> None:
    report = host(tmp_path, "snp-host-milan-rome2d16-amdsev140-fw-too-old.txt")
    check = report.check("snp.firmware")
    assert check.status == "fail"
    assert (
        "SEV API:1.49 build:3" in check.evidence and "requires firmware version" in check.evidence
    )
    assert "sev.fw" in check.hint
    assert report.check("snp.init").status == "skip", "under the failed firmware check"
    assert not report.profiles["sev-snp"].launchable


def test_a_failed_snp_init_names_the_firmware_error(tmp_path: Path) -> None:
    report = host(tmp_path, "snp-host-milan-7443p-amdsev189-snp-init-fail.txt")
    check = report.check("snp.init")
    assert check.status == "fail"
    assert "SEV-SNP: failed to INIT rc -5, error 0x3" in check.evidence
    assert "0x3 INVALID_CONFIG" in check.evidence
    assert not report.profiles["sev-snp"].launchable
    assert report.profiles["sev-es"].launchable, "SEV-ES ASIDs 1 - 99 remain usable"


def test_turins_segmented_rmp_and_snp_only_asid_line(tmp_path: Path) -> None:
    log = read_log(logged_lines("snp-host-turin-segmented-rmp-amdsev-readme.txt"))
    assert log.rmp == "0x000000009ba00000 - 0x000000009ba05000"
    assert log.asids["sev-snp"] == 98 and log.asids["sev-es"] == 98, "SNP uses SEV-ES ASIDs"
    assert "sev" not in log.asids, "no SEV line in this excerpt: unknown, not zero"
    assert log.api["SEV-SNP"] == (1, 58, 5)


def test_the_platform_status_reply_is_decoded_field_by_field() -> None:
    flags = 0b1000101  # mask_chip_id, vlek, ciphertext hiding enabled
    status = decode_snp_status(status_reply(flags=flags, tcbs=(MILAN_TCB, 0x7307000000000003)))
    assert status.api == (1, 55) and status.build == 21 and status.state == "INIT"
    assert status.rmp_initialized and status.guest_count == 1
    assert status.mask_chip_id and not status.mask_chip_key and status.vlek
    assert status.ciphertext_hiding == "enabled"
    assert status.to_json()["current_tcb"] == "0x7308000000000003"
    with pytest.raises(ValueError, match="32 bytes, not 31"):
        decode_snp_status(status_reply()[:31])


def test_a_recorded_status_reply_drives_the_checks(tmp_path: Path) -> None:
    older = 0x7307000000000003
    report = host(tmp_path, None, status_reply(tcbs=(MILAN_TCB, older)))
    assert report.check("snp.firmware").evidence == "SNP_PLATFORM_STATUS: API 1.55 build 21"
    assert report.check("snp.init").status == "pass"
    assert report.check("snp.rmp").evidence.startswith("SNP_PLATFORM_STATUS: RMP initialised")
    tcb = report.check("snp.tcb")
    assert tcb.status == "warn"
    assert tcb.evidence == (
        "current bootloader 3, TEE 0, SNP 8, microcode 115; "
        "reported bootloader 3, TEE 0, SNP 7, microcode 115"
    )
    assert "snphost commit" in tcb.hint
    assert report.to_json()["sev_platform"]["snp_status"]["reported_tcb"] == "0x7307000000000003"


def test_an_uninitialised_rmp_in_the_reply_fails_snp(tmp_path: Path) -> None:
    report = host(tmp_path, None, status_reply(state=0, rmp=0))
    assert report.check("snp.rmp").status == "fail"
    assert report.check("snp.init").status == "fail"
    assert not report.profiles["sev-snp"].launchable


def test_without_dev_sev_every_platform_check_says_why_it_is_skipped(tmp_path: Path) -> None:
    machine = seed_host()
    machine.devices = ["kvm"]
    report = assess(gather(machine.build(tmp_path / "root")), QEMU_SNP, KvmVerdict(True, "ok"))
    for check_id in ("snp.firmware", "snp.init", "snp.rmp", "iommu.snp", "snp.tcb"):
        check = report.check(check_id)
        assert check.status == "skip"
        assert check.evidence == "skipped: '/dev/sev (AMD Secure Processor)' failed"
    assert report.to_json()["sev_platform"]["snp_status_problem"].endswith("is not present")
