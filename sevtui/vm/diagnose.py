"""Turn QEMU's error output into plain explanations (several QEMU versions' wording)."""

from __future__ import annotations

import re

_EXPLANATIONS: tuple[tuple[str, str], ...] = (
    (
        r"Failed to open /dev/sev|sev_guest_init: .*/dev/sev|open\(/dev/sev\)",
        "/dev/sev is missing or not accessible: the AMD Secure Processor driver (ccp) is "
        "not loaded, SEV is off in the BIOS, or QEMU lacks permission on /dev/sev",
    ),
    (
        r"cbitpos check failed, host '0'",
        "this CPU reports no C-bit (CPUID 0x8000001F is absent or zero): it has no AMD memory "
        "encryption, so SEV guests cannot run here",
    ),
    (
        r"cbitpos check failed|cbitpos.*(mismatch|invalid)",
        "the C-bit position given to QEMU does not match this CPU (CPUID 0x8000001F "
        "EBX[5:0]); remove vm.NAME.cbitpos so sevtui takes the host's value",
    ),
    (
        r"vm-type TDX not supported by KVM",
        "this host's KVM cannot create a TD: TDX needs an Intel Xeon (Sapphire Rapids or "
        "later) with TDX enabled in the BIOS, an initialized TDX module and a host kernel "
        "with TDX support whose kvm_intel runs with tdx=1 (`sevtui caps` shows which is "
        "missing)",
    ),
    (
        r"vm-type SEV(-ES|-SNP)? not supported by KVM|KVM does not support vm-type|"
        r"vm-type.*not supported",
        "this host's KVM cannot create that kind of confidential VM: it needs an AMD EPYC "
        "host kernel with SEV/SEV-SNP support (SEV-SNP: Linux >= 6.11) and kvm_amd loaded "
        "with sev=1, sev_es=1, sev_snp=1 (check /sys/module/kvm_amd/parameters and "
        "`sevtui caps`)",
    ),
    (
        r"parameter length of \d+ not equal to 32|host-data",
        "QEMU >= 9.1 needs vm.NAME.host_data to be base64 of exactly 32 bytes; "
        "`sevtui config check` shows a padded value",
    ),
    (
        r"id-block|id-auth|guest-visible-workarounds",
        "an SEV-SNP launch blob has the wrong size: id_block is 96 bytes, id_auth at most "
        "4096, guest_visible_workarounds 16 (base64); run `sevtui config check`",
    ),
    (
        r"reduced-phys-bits.*(check failed|invalid)",
        "reduced-phys-bits is not valid for this CPU; the guest normally needs 1",
    ),
    (
        r"sev_snp_launch_start|SNP_LAUNCH_START ret=(-?\d+)",
        "the SEV firmware refused to launch the SEV-SNP guest: the policy is not allowed "
        "(check vm.NAME.policy, e.g. 0x30000), SNP is not initialised (dmesg | grep -i snp), "
        "or the firmware is too old",
    ),
    (
        r"SEV_LAUNCH_START ret=|LAUNCH_START.*fw_error",
        "the SEV firmware refused to launch the guest: check the policy and the SEV firmware "
        "version (dmesg | grep -i sev)",
    ),
    (
        r"KVM_SEV_INIT|KVM_SEV_ES_INIT|KVM_SEV_SNP_INIT|sev_kvm_init",
        "KVM refused to initialise SEV: kvm_amd was loaded with sev=0 (or sev_es/sev_snp=0), "
        "or no encrypted-guest ASIDs are free",
    ),
    (
        r"SEV is not available in this QEMU|SEV.*not (supported|available)|"
        r"invalid object type: sev|'sev(-snp)?-guest' (not found|is not a valid)|"
        r"does not accept value 'sev",
        "this QEMU was built without SEV support (or, for SEV-SNP, is older than 9.1): "
        "install a QEMU that lists sev-guest / sev-snp-guest in `-object help`",
    ),
    (
        r"memory-backend-memfd-private",
        'this QEMU is not AMD\'s SNP fork: set qemu.snp_dialect = "upstream" (QEMU >= 9.1)',
    ),
    (
        r"kernel-hashes",
        "the firmware cannot measure a directly booted kernel (kernel-hashes): use an OVMF "
        "build with SEV support (OVMF.amdsev.fd) or boot from a disk image",
    ),
    (
        r"Could not access KVM kernel module|failed to initialize kvm|/dev/kvm",
        "KVM is not available: load kvm_amd/kvm_intel and check access to /dev/kvm, "
        'or set qemu.accel = "tcg"',
    ),
    (
        r"RLIMIT_MEMLOCK|locked memory|memlock|failed to register region",
        "the guest's memory could not be pinned: raise RLIMIT_MEMLOCK for QEMU (ulimit -l "
        "unlimited, or LimitMEMLOCK=infinity in a systemd unit) or run it as root",
    ),
    (
        r"cannot set up guest memory|Cannot allocate memory|cannot allocate",
        "the host could not give the guest its memory: lower vm.NAME.memory or free memory "
        "(SEV guests also need RLIMIT_MEMLOCK to cover it)",
    ),
    (
        r"UNIX socket path .* is too long|path.*too long",
        "a socket path is too long for Linux (108 bytes): set paths.state_dir to a shorter folder",
    ),
    (
        r"Could not open .*(OVMF|\.fd)|could not load PC BIOS",
        "QEMU could not open the firmware file: set vm.NAME.firmware to an existing OVMF file "
        "(Debian: apt-get install ovmf)",
    ),
)


def explain(stderr: str) -> str:
    """A plain explanation of QEMU's failure, or '' when it is not a known one."""
    for pattern, explanation in _EXPLANATIONS:
        if re.search(pattern, stderr, re.IGNORECASE):
            return explanation
    return ""


def tail(text: str, lines: int = 8) -> str:
    """The last few non-empty lines of a log."""
    kept = [line for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])
