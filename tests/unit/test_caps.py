"""Capability verdicts for the seed's machines, fake sysroots and this machine."""

from __future__ import annotations

from pathlib import Path

from sevtui.host.caps import CapabilityReport, assess
from sevtui.host.facts import gather
from sevtui.host.kvm import KvmVerdict
from sevtui.host.qemu import QemuInfo
from tests.sysroots import Machine, recorded, seed_host, seed_normal_guest, seed_snp_guest

QEMU_SNP = QemuInfo(
    "/usr/bin/qemu", (9, 2, 0), "QEMU 9.2.0", frozenset({"sev-guest", "sev-snp-guest"})
)


def replay(machine: Machine, tmp_path: Path) -> CapabilityReport:
    return assess(gather(machine.build(tmp_path / "root")), None, None)


def launchable(report: CapabilityReport) -> dict[str, bool]:
    return {kind: verdict.launchable for kind, verdict in report.profiles.items()}


def test_seed_host_is_snp_ready(tmp_path: Path) -> None:
    report = replay(seed_host(), tmp_path)
    assert report.role == "host"
    assert report.verdict == "SEV-SNP ready" and report.ready
    assert launchable(report) == {
        "nosev": True,
        "sev": True,
        "sev-es": True,
        "sev-snp": True,
        "tdx": False,
    }
    assert report.leaf is not None and report.leaf.cbitpos == 51
    assert report.check("kvm.functional").status == "skip"
    assert "382 ASIDs" in report.check("sev.kernel_log").evidence


def test_seed_host_live_with_probes_and_old_qemu(tmp_path: Path) -> None:
    facts = gather(seed_host().build(tmp_path / "root"))
    old = QemuInfo("/usr/bin/qemu", (7, 2, 0), "QEMU 7.2.0", frozenset({"sev-guest"}))
    report = assess(facts, old, KvmVerdict(True, "booted"))
    assert launchable(report) == {
        "nosev": True,
        "sev": True,
        "sev-es": True,
        "sev-snp": False,
        "tdx": False,
    }
    assert "sev-snp-guest" in report.profiles["sev-snp"].reason
    assert report.verdict == "SEV-ES ready"


def test_snp_host_whose_kvm_hangs_cannot_launch_confidential_vms(tmp_path: Path) -> None:
    facts = gather(seed_host().build(tmp_path / "root"))
    report = assess(facts, QEMU_SNP, KvmVerdict(False, "the guest hung under KVM"))
    assert launchable(report) == {
        "nosev": True,
        "sev": False,
        "sev-es": False,
        "sev-snp": False,
        "tdx": False,
    }
    assert report.profiles["sev-snp"].reason.startswith("KVM runs a guest: the guest hung")
    assert report.profiles["nosev"].reason == "runs under TCG software emulation"
    assert report.verdict == "no KVM: guests hang under KVM here"


def test_sev_in_cpuid_but_disabled_in_kvm_amd(tmp_path: Path) -> None:
    machine = seed_host()
    machine.kvm_amd = {"sev": "0", "sev_es": "0", "sev_snp": "N"}
    report = replay(machine, tmp_path)
    assert report.check("cpuid.sev").status == "pass"
    assert report.check("kvm_amd.sev").status == "fail"
    assert "options kvm_amd sev=1" in report.check("kvm_amd.sev").hint
    assert report.check("kvm_amd.sev_snp").status == "skip"
    assert report.verdict == "SEV: disabled in kvm_amd" and not report.ready
    assert launchable(report)["sev"] is False
    assert "kvm_amd" in report.profiles["sev-snp"].reason


def test_dev_sev_missing(tmp_path: Path) -> None:
    machine = seed_host()
    machine.devices = ["kvm"]
    report = replay(machine, tmp_path)
    assert report.check("sev.device").status == "fail"
    assert "modprobe ccp" in report.check("sev.device").hint
    assert report.verdict == "SEV: /dev/sev missing"
    assert not any(launchable(report)[kind] for kind in ("sev", "sev-es", "sev-snp"))


def test_snp_guest_from_the_seed(tmp_path: Path) -> None:
    report = replay(seed_snp_guest(), tmp_path)
    assert report.role == "guest"
    assert report.verdict == "confidential guest: SEV SEV-ES SEV-SNP active" and report.ready
    assert report.check("guest.encryption").status == "pass"
    assert report.check("guest.attestation").status == "pass"
    assert launchable(report)["sev"] is False


def test_normal_guest_from_the_seed(tmp_path: Path) -> None:
    report = replay(seed_normal_guest(), tmp_path)
    assert report.role == "guest"
    assert report.check("guest.encryption").status == "warn"
    assert report.guest_features == ""
    assert report.verdict == "SEV: CPU does not report memory encryption"
    assert launchable(report)["sev"] is False
    assert report.profiles["nosev"].reason == "launchable (accel not probed in a replay)"


def test_non_amd_host(tmp_path: Path) -> None:
    machine = Machine(vendor="GenuineIntel", model="Intel Xeon", leaf=None, kvm_amd=None)
    report = replay(machine, tmp_path)
    assert report.verdict == "TDX: not enabled in the BIOS"
    assert report.check("cpu.vendor").short == "no AMD SEV: Intel host"
    assert report.check("cpuid.sev").status == "skip"
    assert "'AMD processor' failed" in report.check("kvm_amd.sev_snp").evidence
    assert launchable(report) == {
        "nosev": True,
        "sev": False,
        "sev-es": False,
        "sev-snp": False,
        "tdx": False,
    }


def test_this_machine_recorded(tmp_path: Path) -> None:
    root = recorded("this-machine", tmp_path / "root")
    report = assess(gather(root), None, KvmVerdict(False, "guest hung under KVM"))
    assert report.vendor == "GenuineIntel"
    assert report.role == "guest"
    assert report.verdict == "no TDX: this machine is a VM"
    assert report.check("cpu.vendor").short == "no AMD SEV: Intel host"
    assert not report.profiles["tdx"].launchable
    assert report.check("kvm.functional").status == "fail"
    assert report.profiles["nosev"].reason == "runs under TCG software emulation"
    assert report.leaf is None


def test_json_contract_keys(tmp_path: Path) -> None:
    data = replay(seed_host(), tmp_path).to_json()
    assert set(data) >= {"role", "cpu", "cpuid_8000001f", "checks", "profiles", "accel"}
    assert set(data["cpu"]) == {"vendor", "model", "microcode"}
    assert set(data["sev_platform"]) == {"snp_status", "snp_status_problem", "kernel_log"}
    leaf = data["cpuid_8000001f"]
    for key in ("eax", "ebx", "ecx", "edx", "sme", "sev", "sev_es", "sev_snp", "vmpl",
                "cbitpos", "phys_addr_reduction", "vmpl_count", "max_encrypted_guests",
                "min_sev_asid"):  # fmt: skip
        assert key in leaf
    assert set(data["checks"][0]) >= {"id", "title", "status", "evidence", "hint"}
    assert set(data["profiles"]) == {"nosev", "sev", "sev-es", "sev-snp", "tdx"}
    assert set(data["accel"]) == {"kvm_usable", "usable", "verified", "reason"}


def test_every_non_pass_check_has_a_hint(tmp_path: Path) -> None:
    machine = seed_host()
    machine.kvm_amd = {"sev": "1", "sev_es": "0", "sev_snp": "0"}
    machine.memlock = "65536"
    machine.iommu = []
    for check in replay(machine, tmp_path).checks:
        if check.status in ("fail", "warn"):
            assert check.hint, check.id


def test_replayed_descriptors_give_each_kind_its_firmware(tmp_path: Path) -> None:
    report = replay(seed_host(), tmp_path)
    firmware = report.to_json()["firmware"]
    assert firmware["sev-snp"]["direct"]["file"] == "/usr/share/ovmf/OVMF.amdsev.fd"
    assert firmware["sev-snp"]["direct"]["device"] == "memory"
    assert firmware["nosev"]["disk"]["file"] == "/usr/share/OVMF/OVMF_CODE_4M.fd"
    assert firmware["nosev"]["disk"]["nvram_template"] == "/usr/share/OVMF/OVMF_VARS_4M.fd"
    assert report.check("firmware.sev-snp").status == "pass"


def test_a_host_without_the_amdsev_build_names_the_package_per_kind(tmp_path: Path) -> None:
    machine = seed_host()
    machine.firmware = ["debian12/60-edk2-x86_64.json"]
    report = replay(machine, tmp_path)
    assert report.check("firmware.sev").status == "warn"
    assert "ovmf-amdsev" in report.check("firmware.sev-snp").hint
    firmware = report.to_json()["firmware"]
    assert firmware["sev"]["disk"]["file"] == "/usr/share/OVMF/OVMF_CODE_4M.fd"
    assert firmware["sev"]["direct"]["file"] is None
    assert "kernel-hashes=on" in firmware["sev"]["direct"]["problem"]


def test_a_replay_without_descriptor_folders_says_not_recorded(tmp_path: Path) -> None:
    machine = seed_host()
    machine.firmware = []
    report = replay(machine, tmp_path)
    assert report.check("firmware.sev-snp").status == "skip"
    assert report.to_json()["firmware"] == {}


def test_no_asids_for_sev_es_and_snp_is_not_snp_ready(tmp_path: Path) -> None:
    """CPUID 0x8000001F EDX = 1 (minimum SEV ASID 1), as a real Genoa host and the Dell
    R7515 of AMDESE/AMDSEV#84 ship: every ASID goes to plain SEV, none to SEV-ES/SNP."""
    machine = seed_host()
    assert machine.leaf is not None
    eax, ebx, ecx, _edx = machine.leaf
    machine.leaf = (eax, ebx, ecx, 1)
    report = replay(machine, tmp_path)
    assert launchable(report) == {
        "nosev": True,
        "sev": True,
        "sev-es": False,
        "sev-snp": False,
        "tdx": False,
    }
    assert report.verdict == "SEV ready"
    check = report.check("cpuid.es_asids")
    assert check.status == "fail" and "0 of them" in check.evidence
    assert "SEV-ES ASID space limit" in report.profiles["sev-snp"].reason


def test_a_leaf_of_zeros_describes_no_memory_encryption(tmp_path: Path) -> None:
    machine = seed_host()
    machine.leaf = (0, 0, 0, 0)
    machine.flags = ["fpu", "svm", "hypervisor"]
    report = replay(machine, tmp_path)
    assert report.check("cpuid.leaf").status == "fail"
    assert report.check("cpuid.sev").short == "SEV: not offered to this VM"


def test_kvm_that_ran_no_guest_kernel_is_not_verified(tmp_path: Path) -> None:
    facts = gather(seed_host().build(tmp_path / "root"))
    unverified = KvmVerdict(False, "KVM not verified: no guest kernel has booted", verified=False)
    report = assess(facts, QEMU_SNP, unverified)
    check = report.check("kvm.functional")
    assert check.status == "warn", "not a failure: nothing showed KVM does not work"
    assert report.to_json()["accel"] == {
        "kvm_usable": False,
        "usable": False,
        "verified": False,
        "reason": "KVM not verified: no guest kernel has booted",
    }
    assert report.profiles["nosev"].reason == "runs under TCG software emulation"
