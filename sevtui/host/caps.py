"""Judge host facts: a check tree like `snphost ok`, and which VM kinds can launch here."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from sevtui.base.kinds import SEV_KINDS, SnpDialect
from sevtui.config import VM_KINDS, VmKind
from sevtui.host import firmware
from sevtui.host.check import Check, Status
from sevtui.host.cpuid import Leaf8000001F
from sevtui.host.facts import HostFacts, param_enabled
from sevtui.host.firmware import FirmwareChoice
from sevtui.host.kvm import KvmVerdict
from sevtui.host.qemu import QemuInfo, snp_dialect
from sevtui.host.sevplatform import SnpStatus
from sevtui.host.snpchecks import platform_checks
from sevtui.host.tdxchecks import tdx_checks

BIOS_HINT = (
    "enable it in the BIOS/UEFI setup (SMEE, SEV-ES ASID space limit, SNP memory coverage, "
    "IOMMU) and update the SEV firmware"
)
VM_HINT = (
    "this machine is itself a VM: its host must pass the feature through (a guest cannot "
    "run SEV guests of its own: nested SEV is not possible)"
)
REQUIREMENTS: dict[VmKind, tuple[str, ...]] = {
    "nosev": ("qemu.binary",),
    "sev": (
        "cpu.vendor",
        "cpuid.leaf",
        "cpuid.sev",
        "kvm.device",
        "kvm.functional",
        "kvm_amd.module",
        "kvm_amd.sev",
        "sev.device",
        "qemu.binary",
        "qemu.sev",
    ),
    "sev-es": ("cpuid.sev_es", "cpuid.es_asids", "sev.asids_es", "kvm_amd.sev_es"),
    "sev-snp": (
        "cpuid.sev_snp",
        "kvm_amd.sev_snp",
        "snp.firmware",
        "snp.init",
        "snp.rmp",
        "qemu.snp",
    ),
    "tdx": (
        "tdx.cpu",
        "tdx.bios",
        "kvm.device",
        "kvm.functional",
        "kvm_intel.tdx",
        "tdx.module",
        "qemu.binary",
        "qemu.tdx",
    ),
}
ONLY_FOR: dict[VmKind, tuple[str, ...]] = {"sev": ("sev.asids_sev",)}
"""Requirements of one kind alone, not of the kinds above it (no ASIDs left for plain SEV
stops SEV guests, not SEV-ES or SNP ones)."""


@dataclass(frozen=True)
class ProfileVerdict:
    """Whether one VM kind can launch here, and why not."""

    launchable: bool
    reason: str


@dataclass
class CapabilityReport:
    """Everything `sevtui caps` says about a machine."""

    role: Literal["host", "guest"]
    vendor: str
    model: str
    leaf: Leaf8000001F | None
    checks: list[Check]
    profiles: dict[VmKind, ProfileVerdict]
    accel: KvmVerdict
    replay: bool = False
    accel_probed: bool = True
    guest_features: str = ""
    firmware: dict[VmKind, dict[str, FirmwareChoice]] = field(default_factory=dict)
    platform: dict[str, Any] = field(default_factory=dict)
    """The SEV platform's facts: SNP_PLATFORM_STATUS (or why not) and the kernel log's."""
    microcode: str = ""
    tdx: dict[str, Any] = field(default_factory=dict)
    """The TDX facts: kvm_intel's parameter, the module's sysfs, the kernel log's lines."""
    by_id: dict[str, Check] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.by_id = {check.id: check for check in self.checks}

    def check(self, check_id: str) -> Check:
        """The check with this id."""
        return self.by_id[check_id]

    def depth(self, check: Check) -> int:
        """How deep a check sits in the tree (0 for roots)."""
        level, parent = 0, check.parent
        while parent is not None:
            level, parent = level + 1, self.by_id[parent].parent
        return level

    @property
    def ready(self) -> bool:
        """True when a confidential kind can launch here, or this is a confidential guest."""
        if self.role == "guest" and self.guest_features:
            return True
        return any(self.profiles[kind].launchable for kind in (*SEV_KINDS, "tdx"))

    @property
    def verdict(self) -> str:
        """One-glance summary, e.g. 'SEV-SNP ready' or 'SEV: disabled in kvm_amd'."""
        if self.role == "guest" and self.guest_features:
            return f"confidential guest: {self.guest_features} active"
        labels: tuple[tuple[VmKind, str], ...] = (
            ("sev-snp", "SEV-SNP"),
            ("sev-es", "SEV-ES"),
            ("sev", "SEV"),
            ("tdx", "TDX"),
        )
        for kind, label in labels:
            if self.profiles[kind].launchable:
                return f"{label} ready"
        family: VmKind = "tdx" if self.vendor == "GenuineIntel" else "sev"
        name = "TDX" if family == "tdx" else "SEV"
        for check_id in REQUIREMENTS[family]:
            check = self.by_id.get(check_id)
            if check is not None and check.status == "fail":
                return check.short or f"{name}: {check.title.lower()} failed"
        return f"{name}: not available"

    def to_json(self) -> dict[str, Any]:
        """The JSON contract of `sevtui caps --json`."""
        return {
            "role": self.role,
            "cpu": {"vendor": self.vendor, "model": self.model, "microcode": self.microcode},
            "cpuid_8000001f": self.leaf.to_json() if self.leaf else None,
            "checks": [check.to_json() for check in self.checks],
            "profiles": {
                kind: {"launchable": v.launchable, "reason": v.reason}
                for kind, v in self.profiles.items()
            },
            "accel": {
                "kvm_usable": self.accel.usable,
                "usable": self.accel.usable,
                "verified": self.accel.verified,
                "reason": self.accel.reason,
            },
            "firmware": {
                kind: {boot: choice.to_json() for boot, choice in choices.items()}
                for kind, choices in self.firmware.items()
            },
            "sev_platform": self.platform,
            "tdx_platform": self.tdx,
            "verdict": self.verdict,
            "ready": self.ready,
            "replay": self.replay,
        }


class _Tree:
    """Builds checks in order; a failed (or skipped) parent skips its children."""

    def __init__(self) -> None:
        self.checks: list[Check] = []
        self._by_id: dict[str, Check] = {}
        self._root_cause: dict[str, str] = {}

    def add(self, check: Check) -> Check:
        """Append CHECK; under a failed or skipped parent it becomes a skip naming the cause."""
        if check.parent is not None:
            above = self._by_id[check.parent]
            cause = self._root_cause.get(check.parent)
            if above.status == "fail":
                cause = above.title
            if cause is not None:
                check = replace(
                    check, status="skip", hint="", evidence=f"skipped: '{cause}' failed"
                )
                self._root_cause[check.id] = cause
        if check.status == "pass":
            check = replace(check, hint="")
        self.checks.append(check)
        self._by_id[check.id] = check
        return check


def assess(
    facts: HostFacts,
    qemu: QemuInfo | str | None,
    accel: KvmVerdict | None,
    configured_dialect: str = "auto",
) -> CapabilityReport:
    """Turn facts into the check tree and per-kind verdicts.

    `qemu` is the probed QEMU, a problem text, or None when not probed (replays);
    `accel` is the KVM probe verdict, or None when not probed.
    """
    tree = _Tree()
    _cpu_checks(tree, facts)
    _kvm_checks(tree, facts, accel)
    _kvm_amd_checks(tree, facts)
    _sev_device_checks(tree, facts)
    for check in platform_checks(facts):
        tree.add(check)
    for check in tdx_checks(facts):
        tree.add(check)
    _environment_checks(tree, facts)
    _qemu_checks(tree, qemu, facts)
    probed = qemu if isinstance(qemu, QemuInfo) else None
    choices = _firmware_checks(tree, facts, probed, snp_dialect(configured_dialect, probed))
    guest_features = _guest_features(facts)
    role: Literal["host", "guest"] = (
        "guest"
        if guest_features or "hypervisor" in facts.flags or facts.devices["sev-guest"].present
        else "host"
    )
    if role == "guest":
        _guest_checks(tree, facts, guest_features)
    accel_verdict = accel or KvmVerdict(False, "KVM not probed (replaying another machine)")
    report = CapabilityReport(
        role=role,
        vendor=facts.vendor,
        model=facts.model,
        leaf=facts.cpuid.leaf,
        checks=tree.checks,
        profiles={},
        accel=accel_verdict,
        replay=facts.replay,
        accel_probed=accel is not None,
        guest_features=guest_features,
        firmware=choices,
        platform=sev_platform(facts),
        microcode=facts.microcode,
        tdx=facts.tdx.to_json(),
    )
    report.profiles = {kind: _profile(report, kind) for kind in VM_KINDS}
    return report


def sev_platform(facts: HostFacts) -> dict[str, Any]:
    """The SEV platform's facts as stored with a run and printed by `caps --json`."""
    status = facts.snp_status
    return {
        "snp_status": status.to_json() if isinstance(status, SnpStatus) else None,
        "snp_status_problem": status if isinstance(status, str) else "",
        "kernel_log": facts.sev_log.to_json(),
    }


def _cpu_checks(tree: _Tree, facts: HostFacts) -> None:
    amd = facts.vendor == "AuthenticAMD"
    intel = facts.vendor == "GenuineIntel"
    tree.add(
        Check(
            "cpu.vendor",
            "AMD processor",
            "pass" if amd else "fail",
            f"{facts.sysroot / 'proc/cpuinfo'}: vendor_id {facts.vendor}, {facts.model}",
            "SEV needs an AMD EPYC processor (Zen or later); "
            + (
                "this Intel host's confidential VMs are TDX's (the tdx checks)"
                if intel
                else "none was found"
            ),
            short="no AMD SEV: Intel host" if intel else "no AMD SEV: not an AMD CPU",
        )
    )
    reading = facts.cpuid
    leaf = reading.leaf
    described = leaf is not None and any((leaf.eax, leaf.ebx, leaf.ecx, leaf.edx))
    tree.add(
        Check(
            "cpuid.leaf",
            "CPUID leaf 0x8000001F",
            "pass" if described else "fail",
            f"{reading.source}: "
            + (
                f"eax={leaf.eax:#x} ebx={leaf.ebx:#x} ecx={leaf.ecx:#x} edx={leaf.edx:#x}"
                if leaf
                else reading.problem
            ),
            "the CPU does not describe memory encryption; SEV needs EPYC 7001 or later "
            "(load the cpuid module for /dev/cpu/0/cpuid if reading failed)",
            parent="cpu.vendor",
            short="SEV: CPU does not report memory encryption",
        )
    )
    _cpuid_bit_checks(tree, leaf, "hypervisor" in facts.flags)


def _cpuid_bit_checks(tree: _Tree, leaf: Leaf8000001F | None, in_a_vm: bool) -> None:
    """One check per encryption feature bit, then the ASID count."""
    enable = VM_HINT if in_a_vm else BIOS_HINT
    bit_checks = (
        ("sme", "SME supported", "cpuid.leaf", "warn", "SME is off or absent: " + enable),
        ("sev", "SEV supported", "cpuid.leaf", "fail", "SEV is off or absent: " + enable),
        ("sev_es", "SEV-ES supported", "cpuid.sev", "fail", "needs EPYC 7002 or later"),
        ("sev_snp", "SEV-SNP supported", "cpuid.sev_es", "fail", "needs EPYC 7003 or later"),
    )
    offered = "to this VM" if in_a_vm else "by this CPU"
    for bit, title, parent, missing, hint in bit_checks:
        present = leaf is not None and leaf.has(bit)
        status: Status = "pass" if present else missing  # type: ignore[assignment]
        tree.add(
            Check(
                f"cpuid.{bit}",
                title,
                status,
                f"CPUID 0x8000001F EAX bit {bit}: {'set' if present else 'clear'}",
                hint,
                parent=parent,
                short=f"{title.split()[0]}: not offered {offered}",
            )
        )
    if leaf is not None:
        es_asids = max(leaf.min_sev_asid - 1, 0)
        tree.add(
            Check(
                "cpuid.asids",
                "Encrypted guest slots (ASIDs)",
                "pass" if leaf.max_encrypted_guests > 0 else "fail",
                f"{leaf.max_encrypted_guests} encrypted guests, minimum SEV ASID "
                f"{leaf.min_sev_asid} ({es_asids} ASIDs for SEV-ES/SNP), C-bit {leaf.cbitpos}, "
                f"{leaf.vmpl_count} VMPLs",
                "no ASIDs: raise the SEV ASID count in the BIOS",
                parent="cpuid.sev",
            )
        )
        tree.add(
            Check(
                "cpuid.es_asids",
                "ASIDs for SEV-ES and SEV-SNP guests",
                "pass" if es_asids > 0 else "fail",
                f"minimum SEV ASID {leaf.min_sev_asid}: ASIDs 1..{leaf.min_sev_asid - 1} serve "
                f"SEV-ES/SNP guests, so {es_asids} of them",
                "no SEV-ES or SEV-SNP guest can start: raise the BIOS setting 'SEV-ES ASID "
                "space limit' (the minimum SEV ASID) above 1",
                parent="cpuid.sev_es",
                short="SEV-ES/SNP: 0 ASIDs (BIOS 'SEV-ES ASID space limit')",
            )
        )


def _kvm_checks(tree: _Tree, facts: HostFacts, accel: KvmVerdict | None) -> None:
    device = facts.devices["kvm"]
    usable = device.present and device.readable and device.writable
    if not device.present:
        evidence = f"{device.path}: not present"
    elif not device.char_device and not facts.replay:
        evidence, usable = f"{device.path}: not a character device", False
    else:
        evidence = f"{device.path}: " + ("read-write" if usable else "no read-write access")
    tree.add(
        Check(
            "kvm.device",
            "/dev/kvm accessible",
            "pass" if usable else "fail",
            evidence,
            "load kvm and kvm_amd (modprobe kvm_amd), enable SVM/virtualization in the BIOS, "
            "and run as root or a member of the kvm group",
            short="no KVM: /dev/kvm missing or not accessible",
        )
    )
    if device.api_version is not None:
        tree.add(
            Check(
                "kvm.api",
                "KVM API version",
                "pass" if device.api_version == 12 else "warn",
                f"KVM_GET_API_VERSION = {device.api_version}",
                "unexpected KVM API version; update the kernel",
                parent="kvm.device",
            )
        )
    elif device.problem:
        tree.add(
            Check("kvm.api", "KVM API version", "fail", device.problem, "", parent="kvm.device")
        )
    if accel is None:
        tree.add(
            Check(
                "kvm.functional",
                "KVM runs a guest",
                "skip",
                "not probed (replaying another machine)",
                "run `sevtui caps` on the machine itself to probe",
                parent="kvm.device",
            )
        )
    else:
        tree.add(
            Check(
                "kvm.functional",
                "KVM runs a guest",
                "pass" if accel.usable else "warn" if not accel.verified else "fail",
                f"{accel.reason} ({accel.seconds:.1f} s)",
                "guests will run under TCG (software emulation, much slower); SEV needs working "
                "KVM: check SVM in the BIOS, or nested virtualization when this host is a VM",
                parent="kvm.device",
                short="no KVM: guests hang under KVM here",
            )
        )


def _kvm_amd_checks(tree: _Tree, facts: HostFacts) -> None:
    params_dir = facts.sysroot / "sys/module/kvm_amd/parameters"
    loaded = facts.kvm_amd is not None
    tree.add(
        Check(
            "kvm_amd.module",
            "kvm_amd module loaded",
            "pass" if loaded else "fail",
            f"{params_dir}: {'present' if loaded else 'missing'}",
            "modprobe kvm_amd",
            parent="cpu.vendor",
            short="SEV: kvm_amd not loaded",
        )
    )
    params = facts.kvm_amd or {}
    parents = {"sev": "kvm_amd.module", "sev_es": "kvm_amd.sev", "sev_snp": "kvm_amd.sev_es"}
    for name, parent in parents.items():
        value = params.get(name)
        enabled = param_enabled(value)
        tree.add(
            Check(
                f"kvm_amd.{name}",
                f"{name.upper().replace('_', '-')} enabled in kvm_amd",
                "pass" if enabled else "fail",
                f"{params_dir / name} = {value if value is not None else 'missing'}",
                f"set `options kvm_amd {name}=1` in /etc/modprobe.d/kvm_amd.conf and reload "
                f"kvm_amd (or boot with kvm_amd.{name}=1); if it stays 0, the BIOS or SEV firmware "
                "does not allow it",
                parent=parent,
                short=f"{name.upper().replace('_', '-')}: disabled in kvm_amd",
            )
        )


def _sev_device_checks(tree: _Tree, facts: HostFacts) -> None:
    device = facts.devices["sev"]
    usable = device.present and device.readable and device.writable
    if not device.present:
        evidence = f"{device.path}: not present"
    else:
        evidence = f"{device.path}: " + ("read-write" if usable else "present, no read-write")
    tree.add(
        Check(
            "sev.device",
            "/dev/sev (AMD Secure Processor)",
            "pass" if usable else "fail",
            evidence,
            "load the ccp module (modprobe ccp) and check the SEV firmware initialised "
            "(dmesg | grep -i sev); QEMU needs read-write access (root or a udev rule)",
            parent="cpu.vendor",
            short="SEV: /dev/sev missing",
        )
    )
    log = facts.kernel_log
    host_lines = [line for line in log.lines if "supported" in line or "enabled (ASIDs" in line]
    if log.problem:
        tree.add(
            Check(
                "sev.kernel_log",
                "Kernel reports SEV",
                "skip",
                f"{log.source}: {log.problem}",
                "run as root, or sysctl kernel.dmesg_restrict=0, to read the kernel log",
                parent="sev.device",
            )
        )
    else:
        tree.add(
            Check(
                "sev.kernel_log",
                "Kernel reports SEV",
                "pass" if host_lines else "warn",
                f"{log.source}: " + ("; ".join(host_lines) or "no line announcing SEV ASIDs"),
                "the kernel did not announce SEV ASIDs; check `dmesg | grep -i sev` for firmware "
                "errors",
                parent="sev.device",
            )
        )


def _environment_checks(tree: _Tree, facts: HostFacts) -> None:
    cmdline = " ".join(facts.cmdline) or "no memory-encryption or IOMMU parameters"
    off = [w for w in facts.cmdline if w.endswith(("=off", "=0", "=N")) and "iommu" not in w]
    iommu_off = [w for w in facts.cmdline if "iommu" in w and w.endswith("=off")]
    tree.add(
        Check(
            "kernel.cmdline",
            "Kernel command line",
            "warn" if off or iommu_off else "pass",
            f"{facts.sysroot / 'proc/cmdline'}: {cmdline}",
            "remove " + " ".join(off + iommu_off) + " from the kernel command line",
        )
    )
    tree.add(
        Check(
            "iommu",
            "IOMMU enabled",
            "pass" if facts.iommu_units else "warn",
            f"{facts.sysroot / 'sys/class/iommu'}: " + (", ".join(facts.iommu_units) or "empty"),
            "SEV-SNP needs the IOMMU: enable it in the BIOS and do not boot with iommu=off",
        )
    )
    if facts.memlock is None:
        tree.add(Check("memlock", "RLIMIT_MEMLOCK", "skip", "proc/self/limits not readable"))
        return
    soft, _hard = facts.memlock
    big = soft == "unlimited" or int(soft) >= 1 << 30
    tree.add(
        Check(
            "memlock",
            "RLIMIT_MEMLOCK",
            "pass" if big else "warn",
            f"max locked memory {soft} bytes" if soft != "unlimited" else "unlimited",
            "SEV guests pin their memory: raise the limit (ulimit -l unlimited, or "
            "LimitMEMLOCK=infinity in a systemd unit) or run QEMU as root",
        )
    )


def _qemu_checks(tree: _Tree, qemu: QemuInfo | str | None, facts: HostFacts) -> None:
    replay = facts.replay
    if qemu is None:
        tree.add(
            Check(
                "qemu.binary",
                "QEMU installed",
                "skip",
                "not probed (replaying another machine)" if replay else "not probed",
            )
        )
        return
    if isinstance(qemu, str):
        tree.add(
            Check(
                "qemu.binary",
                "QEMU installed",
                "fail",
                qemu,
                "install QEMU (Debian/Ubuntu: sudo apt-get install qemu-system-x86)",
                short="no QEMU",
            )
        )
        return
    tree.add(Check("qemu.binary", "QEMU installed", "pass", f"{qemu.path}: {qemu.version_text}"))
    for check_id, obj, hint in (
        ("qemu.sev", "sev-guest", "this QEMU was built without SEV support"),
        (
            "qemu.snp",
            "sev-snp-guest",
            "SEV-SNP needs QEMU 9.1 or later, or AMD's SNP fork",
        ),
        ("qemu.tdx", "tdx-guest", "TDX needs QEMU 10.1 or later (Debian: trixie-backports)"),
    ):
        known = obj in qemu.objects
        status: Status = "pass" if known else "fail"
        if not known and (obj == "tdx-guest") != (facts.vendor == "GenuineIntel"):
            status = "skip"
        tree.add(
            Check(
                check_id,
                f"QEMU knows {obj}",
                status,
                f"{qemu.path} -object help: {obj} {'listed' if known else 'not listed'}"
                + ("" if status != "skip" else f" (not needed on this {facts.vendor} host)"),
                hint if status != "skip" else "",
                parent="qemu.binary",
                short=f"{'TDX' if obj == 'tdx-guest' else 'SEV'}: QEMU lacks {obj}",
            )
        )


def _firmware_checks(
    tree: _Tree, facts: HostFacts, qemu: QemuInfo | None, dialect: SnpDialect
) -> dict[VmKind, dict[str, FirmwareChoice]]:
    """Per kind, the firmware a direct-booted and a disk-booted q35 guest would use."""
    machine = firmware.canonical_machine("q35", qemu.aliases if qemu else {})
    where = ", ".join(facts.firmware_dirs) or "no descriptor folder"
    choices: dict[VmKind, dict[str, FirmwareChoice]] = {}
    if facts.replay and not facts.firmware_dirs:
        for kind in VM_KINDS:
            tree.add(
                Check(
                    f"firmware.{kind}",
                    f"Firmware for {kind} guests",
                    "skip",
                    "not recorded: the replayed files hold no usr/share/qemu/firmware",
                )
            )
        return choices
    for kind in VM_KINDS:
        if (kind == "tdx") != (facts.vendor == "GenuineIntel") and kind != "nosev":
            tree.add(
                Check(
                    f"firmware.{kind}",
                    f"Firmware for {kind} guests",
                    "skip",
                    f"not looked for: {kind} guests do not run on this {facts.vendor} host",
                )
            )
            continue
        boots = {"disk": False} if kind == "nosev" else {"direct": True, "disk": False}
        choices[kind] = {
            boot: firmware.choose(facts.firmware, kind, machine, direct, dialect)
            for boot, direct in boots.items()
        }
        missing = [c.problem for c in choices[kind].values() if c.problem]
        found = [
            f"{boot}: {choice.code}"
            for boot, choice in choices[kind].items()
            if choice.code is not None
        ]
        tree.add(
            Check(
                f"firmware.{kind}",
                f"Firmware for {kind} guests",
                "warn" if missing else "pass",
                "; ".join(found) or f"none of the descriptors in {where} fits",
                missing[0] if missing else "",
                short=f"no {kind} firmware",
            )
        )
    return choices


def _guest_features(facts: HostFacts) -> str:
    for line in facts.kernel_log.lines:
        if "Memory Encryption Features active:" in line:
            features = line.split("Memory Encryption Features active:", 1)[1].strip()
            return features.removeprefix("AMD ").strip()
    return ""


def _guest_checks(tree: _Tree, facts: HostFacts, features: str) -> None:
    tree.add(
        Check(
            "guest.encryption",
            "This machine is a VM; memory encryption in it",
            "pass" if features else "warn",
            f"{facts.kernel_log.source}: "
            + (f"Memory Encryption Features active: {features}" if features else "none active"),
            "this machine is itself a guest without SEV; nested guests cannot use SEV",
        )
    )
    sev_guest = facts.devices["sev-guest"]
    if features:
        tree.add(
            Check(
                "guest.attestation",
                "/dev/sev-guest (attestation reports)",
                "pass" if sev_guest.present else "warn",
                f"{sev_guest.path}: {'present' if sev_guest.present else 'not present'}",
                "load the sev-guest module to request attestation reports",
                parent="guest.encryption",
            )
        )


def _needed(kind: VmKind) -> list[str]:
    """The checks KIND needs: the AMD kinds each what the one before needs too; nosev
    only QEMU; tdx its own branch."""
    if kind in ("nosev", "tdx"):
        return [*REQUIREMENTS["nosev"], *(REQUIREMENTS["tdx"] if kind == "tdx" else ())]
    needed = [
        check_id
        for step in SEV_KINDS[: SEV_KINDS.index(kind) + 1]
        for check_id in REQUIREMENTS[step]
    ]
    return [*REQUIREMENTS["nosev"], *needed, *ONLY_FOR.get(kind, ())]


def _profile(report: CapabilityReport, kind: VmKind) -> ProfileVerdict:
    needed = _needed(kind)
    if kind == "tdx" and report.by_id["tdx.cpu"].status == "skip":
        return ProfileVerdict(False, f"Intel processor (TDX): {report.by_id['tdx.cpu'].evidence}")
    for check_id in needed:
        check = report.by_id.get(check_id)
        if check is not None and check.status == "fail":
            reason = f"{check.title}: {check.evidence}"
            return ProfileVerdict(False, f"{reason} (fix: {check.hint})" if check.hint else reason)
    if kind == "nosev":
        if not report.accel_probed:
            return ProfileVerdict(True, "launchable (accel not probed in a replay)")
        accel = "KVM" if report.accel.usable else "TCG software emulation"
        return ProfileVerdict(True, f"runs under {accel}")
    skipped = [
        check_id
        for check_id in needed
        if check_id in report.by_id and report.by_id[check_id].status == "skip"
    ]
    note = f" (not probed: {', '.join(skipped)})" if skipped else ""
    return ProfileVerdict(True, f"all requirements met{note}")
