"""The TDX branch of the capability tree: an Intel CPU with TDX enabled in the BIOS,
kvm_intel with tdx=Y, and an initialized TDX module, each with its evidence and fix.
On an AMD host the branch is one skipped line saying why (and the AMD branch says the
reverse on Intel)."""

from __future__ import annotations

from sevtui.host.check import Check
from sevtui.host.facts import HostFacts
from sevtui.host.tdx import TdxFacts

BIOS_HINT = (
    "enable TDX in the BIOS/UEFI setup: Memory Encryption (TME, TME-MT/MKTME) with KeyIDs "
    "for TDX, 'Trust Domain Extension (TDX)' and the SEAM loader; TDX needs a 4th-generation "
    "Xeon (Sapphire Rapids) or later"
)
KVM_HINT = (
    "boot a kernel with TDX host support (Linux >= 6.16, or a vendor TDX kernel) with "
    "kvm_intel.tdx=1 (set `options kvm_intel tdx=1` in /etc/modprobe.d and reload kvm_intel)"
)
MODULE_HINT = (
    "the TDX module must load and initialize at boot: update the BIOS (it ships the module) "
    "or install the module for the SEAM loader, and boot with nohibernate (TDX and "
    "hibernation exclude each other); dmesg | grep -i tdx tells what failed"
)


def tdx_checks(facts: HostFacts) -> list[Check]:
    """The TDX checks of this host (one skip on a non-Intel CPU)."""
    if facts.vendor != "GenuineIntel":
        return [
            Check(
                "tdx.cpu",
                "Intel processor (TDX)",
                "skip",
                f"vendor_id {facts.vendor}: TDX is Intel's; this host's confidential VMs are "
                "AMD SEV's (the checks above)",
                short="no TDX: not an Intel CPU",
            )
        ]
    tdx = facts.tdx
    log_problem = facts.kernel_log.problem
    return [
        Check(
            "tdx.cpu",
            "Intel processor (TDX)",
            "pass",
            f"{facts.sysroot / 'proc/cpuinfo'}: vendor_id {facts.vendor}, {facts.model}",
        ),
        _bios(facts, tdx, log_problem),
        _kvm_intel(facts, tdx),
        _module(tdx, log_problem),
    ]


def _bios(facts: HostFacts, tdx: TdxFacts, log_problem: str) -> Check:
    """TDX enabled in the BIOS: the kernel's KeyID line, or the CPU flag, or the module."""
    log = tdx.log
    said = _enabled_evidence(facts, tdx)
    if said and not log.not_enabled:
        return Check("tdx.bios", "TDX enabled in the BIOS", "pass", said, parent="tdx.cpu")
    if "hypervisor" in facts.flags:
        return Check(
            "tdx.bios",
            "TDX enabled in the BIOS",
            "fail",
            "this machine is itself a VM (CPU flag hypervisor): no TDX host platform here",
            "run sevtui on the TDX host itself: a VM cannot run TDs of its own (no nested TDX)",
            parent="tdx.cpu",
            short="no TDX: this machine is a VM",
        )
    if log.not_enabled:
        evidence = f"kernel log: {log.not_enabled}"
    elif log_problem:
        evidence = f"kernel log not readable ({log_problem}) and no tdx_host_platform CPU flag"
    else:
        evidence = "the kernel log reserves no TDX private KeyIDs and the CPU has no "
        evidence += "tdx_host_platform flag"
    return Check(
        "tdx.bios",
        "TDX enabled in the BIOS",
        "fail",
        evidence,
        BIOS_HINT,
        parent="tdx.cpu",
        short="TDX: not enabled in the BIOS",
    )


def _enabled_evidence(facts: HostFacts, tdx: TdxFacts) -> str:
    """What shows the BIOS enabled TDX: the KeyIDs it reserved, the CPU flag, or a TDX
    module the SEAM loader loaded (its version, state or failure in the log, its sysfs)."""
    log = tdx.log
    if log.keyids:
        return f"kernel log: BIOS enabled: private KeyID range {log.keyids}"
    if "tdx_host_platform" in facts.flags:
        return "CPU flag tdx_host_platform"
    if tdx.module_sysfs:
        return f"{facts.sysroot / 'sys/firmware/tdx/tdx_module'} present"
    if log.module or log.initialized or log.failure:
        return "kernel log: the TDX module loaded (the BIOS's SEAM loader ran)"
    return ""


def _kvm_intel(facts: HostFacts, tdx: TdxFacts) -> Check:
    params = facts.sysroot / "sys/module/kvm_intel/parameters"
    if not tdx.kvm_intel_loaded:
        evidence = f"{params}: missing (kvm_intel not loaded)"
    else:
        value = tdx.kvm_intel_tdx
        evidence = f"{params / 'tdx'} = {value if value is not None else 'missing'}"
    enabled = tdx.kvm_intel_tdx in ("Y", "y", "1")
    if not enabled and tdx.kvm_intel_loaded and tdx.kvm_intel_tdx is None:
        evidence += " (this kernel's KVM has no TDX support)"
    return Check(
        "kvm_intel.tdx",
        "TDX enabled in kvm_intel",
        "pass" if enabled else "fail",
        evidence,
        KVM_HINT,
        parent="tdx.bios",
        short="TDX: disabled in kvm_intel",
    )


def _module(tdx: TdxFacts, log_problem: str) -> Check:
    """The TDX module initialized: its sysfs status, else the kernel log's words."""
    log, sysfs = tdx.log, tdx.module_sysfs
    version = log.module or _sysfs_version(sysfs)
    named = f"TDX module {version}: " if version else ""
    if sysfs.get("status"):
        ok = sysfs["status"] == "initialized"
        evidence = f"{named}sysfs status {sysfs['status']}"
    elif log.failure:
        ok, evidence = False, f"{named}kernel log: {log.failure}"
    elif log.initialized:
        ok, evidence = True, f"{named}kernel log: module initialized"
    elif log_problem:
        return Check(
            "tdx.module",
            "TDX module initialized",
            "skip",
            f"kernel log not readable ({log_problem}) and no module sysfs",
            "run as root, or sysctl kernel.dmesg_restrict=0, to read the kernel log",
            parent="kvm_intel.tdx",
        )
    else:
        ok, evidence = False, f"{named}the kernel log has no 'module initialized' line"
    return Check(
        "tdx.module",
        "TDX module initialized",
        "pass" if ok else "fail",
        evidence,
        MODULE_HINT,
        parent="kvm_intel.tdx",
        short="TDX: module not initialized",
    )


def _sysfs_version(sysfs: dict[str, str]) -> str:
    """`1.5 build 698` from the module's sysfs files (hex or decimal), when present."""
    try:
        major, minor = int(sysfs["major_version"], 0), int(sysfs["minor_version"], 0)
        build = int(sysfs["build_num"], 0)
    except (KeyError, ValueError):
        return ""
    return f"{major}.{minor} build {build}"
