"""Checks of the SEV platform as `snphost ok` makes them: ASIDs for each kind, the SNP
firmware version, SNP initialisation, the RMP table, IOMMU SNP support and the TCB,
each from the Secure Processor's status reply or the kernel log, with a fix."""

from __future__ import annotations

from sevtui.host import sevplatform
from sevtui.host.check import Check
from sevtui.host.facts import HostFacts
from sevtui.host.sevplatform import SNP_MIN_API, SevLog, SnpStatus

ASID_HINT = (
    "raise the BIOS setting 'SEV-ES ASID Space Limit' (Dell: 'Minimum SEV non-ES ASID'): "
    "ASIDs below it go to SEV-ES/SNP guests, the rest to plain SEV"
)
FIRMWARE_HINT = (
    "update the SEV firmware: a BIOS update, or AMD's sev.fw for this CPU family in "
    "/lib/firmware/amd (the ccp module loads it at boot)"
)
RMP_HINT = (
    "enable SEV-SNP and 'SNP Memory Coverage' (RMP table) in the BIOS so it reserves the RMP "
    "table; some BIOSes need SMEE and IOMMU enabled first"
)


def platform_checks(facts: HostFacts) -> list[Check]:
    """The SEV platform's checks, children of the kernel log and /dev/sev checks."""
    log = facts.sev_log
    status = facts.snp_status
    return [
        *_asid_checks(log),
        _firmware(log, status),
        _init(log, status),
        _rmp(log, status),
        _iommu(log, status),
        _tcb(status, facts.family),
    ]


def _asid_checks(log: SevLog) -> list[Check]:
    checks = [
        _asid_check(log, "sev-es", "ASIDs for SEV-ES/SNP guests", ASID_HINT),
        _asid_check(
            log,
            "sev",
            "ASIDs for plain SEV guests",
            "lower the BIOS 'SEV-ES ASID Space Limit' so some ASIDs remain for plain SEV "
            "(SEV-ES and SEV-SNP guests still start)",
        ),
    ]
    return checks


def _asid_check(log: SevLog, kind: str, title: str, hint: str) -> Check:
    """How many ASIDs kvm_amd gave KIND: fail at none, warn when the log does not say."""
    check_id = "sev.asids_es" if kind == "sev-es" else "sev.asids_sev"
    count = log.asids.get(kind)
    if count is None:
        said = f"kvm_amd: {log.asid_text}" if log.asid_text else "kvm_amd announced no ASIDs"
        return Check(
            check_id,
            title,
            "warn",
            f"{said}; none named for {kind.upper()}",
            "read `dmesg | grep ASIDs` (kvm_amd prints one line per kind)",
            "sev.kernel_log",
        )
    short = "SEV-ES/SNP: no ASIDs" if kind == "sev-es" else "SEV: no ASIDs"
    return Check(
        check_id,
        title,
        "pass" if count > 0 else "fail",
        f"kvm_amd: {log.asid_text}: {count} for {kind.upper()}",
        hint,
        "sev.kernel_log",
        short=short,
    )


def _version(log: SevLog, status: SnpStatus | str) -> tuple[tuple[int, int] | None, str]:
    """The SNP firmware API version and where it was read."""
    if isinstance(status, SnpStatus):
        return (
            status.api,
            f"SNP_PLATFORM_STATUS: API {status.api[0]}.{status.api[1]} build {status.build}",
        )
    found = log.api.get("SEV-SNP") or log.api.get("SEV")
    if found is None:
        return None, ""
    name = "SEV-SNP" if "SEV-SNP" in log.api else "SEV"
    return found[:2], f"kernel log: {name} API:{found[0]}.{found[1]} build:{found[2]}"


def _firmware(log: SevLog, status: SnpStatus | str) -> Check:
    version, source = _version(log, status)
    too_old = [f for f in log.failures if "requires firmware version" in f]
    minimum = f"{SNP_MIN_API[0]}.{SNP_MIN_API[1]}"
    if too_old or (version is not None and version < SNP_MIN_API):
        said = f"{source}; " if source else ""
        return Check(
            "snp.firmware",
            f"SEV-SNP firmware {minimum} or newer",
            "fail",
            f"{said}{'; '.join(too_old) or 'older than ' + minimum}",
            FIRMWARE_HINT,
            "sev.device",
            short="SEV-SNP: firmware too old",
        )
    if version is None:
        return Check(
            "snp.firmware",
            f"SEV-SNP firmware {minimum} or newer",
            "warn",
            f"no firmware version: the kernel log has no 'SEV API' line and "
            f"SNP_PLATFORM_STATUS was not read ({_why(status)})",
            "read `dmesg | grep 'SEV API'` as root",
            "sev.device",
        )
    return Check(
        "snp.firmware", f"SEV-SNP firmware {minimum} or newer", "pass", source, parent="sev.device"
    )


def _init(log: SevLog, status: SnpStatus | str) -> Check:
    """SNP initialised: the firmware's reply decides; else the log's INIT lines."""
    title = "SEV-SNP initialised"
    failed = [f for f in log.failures if "INIT" in f or "initialization failed" in f]
    codes = [c for c in map(sevplatform.firmware_error, failed) if c]
    logged = f"kernel log: {'; '.join(failed)}" if failed else ""
    if codes:
        logged += f" (firmware error {', '.join(codes)})"
    hint = (
        "SNP_INIT failed: check the BIOS enables SEV-SNP, SMEE, the IOMMU and SNP memory "
        "coverage, that the firmware is current, and `dmesg | grep -i sev` for the step; "
        "kvm_amd initialises SNP when loaded with sev_snp=1"
    )
    if isinstance(status, SnpStatus):
        said = f"SNP_PLATFORM_STATUS: state {status.state}, {status.guest_count} guest(s)"
        ok = status.state == "INIT"
        evidence = said if ok or not logged else f"{said}; {logged}"
        return Check(
            "snp.init",
            title,
            "pass" if ok else "fail",
            evidence,
            hint,
            "snp.firmware",
            short="SEV-SNP: not initialised",
        )
    if failed:
        return Check(
            "snp.init", title, "fail", logged, hint, "snp.firmware", short="SEV-SNP: INIT failed"
        )
    if "SEV-SNP" in log.api:
        api = log.api["SEV-SNP"]
        return Check(
            "snp.init",
            title,
            "pass",
            f"kernel log: SEV-SNP API:{api[0]}.{api[1]} build:{api[2]}, no INIT failure",
            parent="snp.firmware",
        )
    return Check(
        "snp.init",
        title,
        "warn",
        f"not known: no SEV-SNP line in the kernel log, SNP_PLATFORM_STATUS {_why(status)}",
        "load kvm_amd with sev_snp=1 and read `dmesg | grep -i snp`",
        "snp.firmware",
    )


def _rmp(log: SevLog, status: SnpStatus | str) -> Check:
    title = "RMP table reserved and initialised"
    if log.rmp_missing:
        return Check(
            "snp.rmp",
            title,
            "fail",
            "kernel log: Memory for the RMP table has not been reserved by BIOS",
            RMP_HINT,
            "sev.device",
            short="SEV-SNP: no RMP table",
        )
    if isinstance(status, SnpStatus):
        state = "initialised" if status.rmp_initialized else "not initialised"
        said = f"SNP_PLATFORM_STATUS: RMP {state}"
        if log.rmp:
            said += f"; kernel log: RMP table at {log.rmp}"
        return Check(
            "snp.rmp",
            title,
            "pass" if status.rmp_initialized else "fail",
            said,
            RMP_HINT,
            "sev.device",
            short="SEV-SNP: RMP not initialised",
        )
    if log.rmp:
        return Check(
            "snp.rmp", title, "pass", f"kernel log: RMP table at {log.rmp}", parent="sev.device"
        )
    return Check(
        "snp.rmp", title, "warn", "the kernel log names no RMP table", RMP_HINT, "sev.device"
    )


def _iommu(log: SevLog, status: SnpStatus | str) -> Check:
    title = "IOMMU SNP support"
    if log.iommu_snp:
        return Check(
            "iommu.snp",
            title,
            "pass",
            "kernel log: AMD-Vi: IOMMU SNP support enabled",
            parent="sev.device",
        )
    running = (isinstance(status, SnpStatus) and status.state == "INIT") or "SEV-SNP" in log.api
    evidence = "the kernel log does not say 'IOMMU SNP support enabled'" + (
        " although SNP is initialised (older kernels do not print it)" if running else ""
    )
    return Check(
        "iommu.snp",
        title,
        "warn",
        evidence,
        "SEV-SNP needs the IOMMU: enable it (and SNP) in the BIOS, and do not boot with "
        "iommu=off or amd_iommu=off",
        "sev.device",
    )


def _tcb(status: SnpStatus | str, family: int | None) -> Check:
    title = "TCB: running and reported versions"
    if not isinstance(status, SnpStatus):
        return Check(
            "snp.tcb", title, "skip", f"SNP_PLATFORM_STATUS {_why(status)}", parent="sev.device"
        )
    current = sevplatform.decode_tcb(status.current_tcb, family)
    reported = sevplatform.decode_tcb(status.reported_tcb, family)
    evidence = f"current {current.text()}; reported {reported.text()}"
    if status.current_tcb == status.reported_tcb:
        return Check("snp.tcb", title, "pass", evidence, parent="sev.device")
    return Check(
        "snp.tcb",
        title,
        "warn",
        evidence,
        "attestation reports and VCEKs carry the reported (committed) TCB, older than the "
        "running one: commit the update (`snphost commit`) once you trust it",
        "sev.device",
    )


def _why(status: SnpStatus | str) -> str:
    return "was read" if isinstance(status, SnpStatus) else f"not read: {status}"
