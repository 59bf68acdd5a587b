"""The paper's system table, from what each run stored: the seed's Host CPU, Host Memory,
Host Config, Host Kernel, QEMU, OVMF, Guest vCPU, Guest Memory and Guest Kernel, and
more. A fact a run did not record reads "not recorded", never a guess; runs that differ
in a fact list each value."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sevtui.base.sizes import format_size
from sevtui.store.rows import RunRow

NOT_RECORDED = "not recorded"


@dataclass(frozen=True)
class SystemTable:
    """Host facts (one value per fact) and per-profile facts (one column per profile)."""

    host: list[tuple[str, str]]
    profiles: list[str]
    guests: list[tuple[str, list[str]]]


def _joined(values: Iterable[str]) -> str:
    found = [v for v in dict.fromkeys(values) if v]
    return " / ".join(found) if found else NOT_RECORDED


def _cpu(p: dict[str, Any]) -> str:
    model = p.get("cpu_model")
    if not model:
        return ""
    microcode = p.get("microcode")
    return f"{model} (microcode {microcode})" if microcode else str(model)


def gib(size: int) -> str:
    """Bytes as `23.5 GiB` (a table reads better than 24683784K)."""
    return f"{size / (1 << 30):.1f} GiB"


def _memory(p: dict[str, Any]) -> str:
    facts = p.get("platform") or {}
    total = facts.get("memory_bytes")
    if not total:
        return ""
    nodes = facts.get("numa_nodes") or {}
    sizes = ", ".join(f"{name} {gib(size)}" for name, size in nodes.items() if size)
    numa = f"; {len(nodes)} NUMA node{'s' if len(nodes) != 1 else ''} ({sizes})" if nodes else ""
    return f"{gib(total)}{numa}"


def _config(p: dict[str, Any], host_target: dict[str, Any]) -> str:
    facts = p.get("platform") or {}
    if not facts:
        return ""
    parts = []
    balancing = facts.get("numa_balancing")
    if balancing is not None:
        parts.append(f"NUMA balancing {'on' if balancing else 'off'}")
    if facts.get("smt_control"):
        active = facts.get("smt_active")
        parts.append(f"SMT {facts['smt_control']}" + (" (active)" if active else ""))
    if facts.get("thp"):
        parts.append(f"THP {facts['thp']}")
    for key in ("governor", "boost"):
        value = host_target.get(key)
        if value and value != "unknown":
            parts.append(f"{key} {value}")
    parts.append(_mitigations(facts.get("vulnerabilities") or {}))
    return "; ".join(part for part in parts if part)


def _mitigations(found: dict[str, str]) -> str:
    """`mitigations: 2 vulnerable (a, b), 9 mitigated, 12 not affected`."""
    if not found:
        return ""
    vulnerable = sorted(name for name, text in found.items() if text.startswith("Vulnerable"))
    mitigated = sum(text.startswith("Mitigation") for text in found.values())
    unaffected = sum(text.startswith("Not affected") for text in found.values())
    named = f" ({', '.join(vulnerable)})" if vulnerable else ""
    return (
        f"mitigations: {len(vulnerable)} vulnerable{named}, {mitigated} mitigated, "
        f"{unaffected} not affected"
    )


def _sev_firmware(p: dict[str, Any]) -> str:
    """The SEV firmware as the run's capability report saw it: the Secure Processor's
    reply (API, build, TCB), else the kernel log's API lines; plus the ASID split."""
    platform = (p.get("capabilities") or {}).get("sev_platform") or {}
    status = platform.get("snp_status")
    log = platform.get("kernel_log") or {}
    parts = []
    if isinstance(status, dict):
        parts.append(
            f"SNP API {status.get('api')} build {status.get('build')}, TCB "
            f"{status.get('current_tcb')} (reported {status.get('reported_tcb')})"
        )
    else:
        parts += [f"{name} API {text}" for name, text in (log.get("api") or {}).items()]
    if log.get("asid_text"):
        parts.append(f"ASIDs {log['asid_text']}")
    if not parts and platform.get("snp_status_problem"):
        return f"not read: {platform['snp_status_problem']}"
    return "; ".join(parts)


def _firmware(info: dict[str, Any]) -> str:
    facts = info.get("firmware_file")
    if isinstance(facts, dict) and facts.get("path"):
        package = facts.get("package")
        version = f"{package} {facts.get('package_version', '')}".strip() if package else ""
        digest = str(facts.get("sha256") or "")[:16]
        parts = [str(facts["path"]), version, f"sha256 {digest}..." if digest else ""]
        return ", ".join(part for part in parts if part)
    if info.get("firmware"):
        return str(info["firmware"])
    return "none (direct kernel boot)" if info.get("argv") else ""


def _policy(info: dict[str, Any]) -> str:
    from sevtui.vm.sevparams import policy_flags

    kind, policy = info.get("kind"), info.get("policy")
    if kind in (None, "nosev"):
        return "-" if kind else ""
    if not isinstance(policy, int):
        return ""
    return f"{policy:#x}: " + "; ".join(policy_flags(kind, policy))


def _attested(info: dict[str, Any]) -> str:
    found = info.get("attestation")
    if not isinstance(found, dict):
        return ""
    reasons = "; ".join(str(r) for r in found.get("reasons") or [])
    return f"{found.get('status')}" + (f" ({reasons})" if reasons else "")


def _confirmed(info: dict[str, Any]) -> str:
    word = info.get("guest_word")
    if not isinstance(word, dict):
        return ""
    return f"{word.get('confirmed_mode')} ({word.get('confirmed_reason')})"


def _memory_of(info: dict[str, Any]) -> str:
    size = info.get("memory")
    return format_size(size) if isinstance(size, int) else ""


def _vm_only(fact: Callable[[dict[str, Any]], str]) -> Callable[[dict[str, Any]], str]:
    """FACT for a VM; `-` for the bare-metal host target, which has no such thing."""
    return lambda info: "-" if info.get("kind") == "host" else fact(info)


GUEST_FACTS: tuple[tuple[str, Callable[[dict[str, Any]], str]], ...] = (
    ("Kind", lambda i: str(i.get("kind") or "")),
    ("Policy", _vm_only(_policy)),
    ("Accelerator", _vm_only(lambda i: str(i.get("accel") or ""))),
    ("vCPUs", lambda i: str(i.get("vcpus") or i.get("cpus") or "")),
    ("Guest memory", _vm_only(_memory_of)),
    ("Firmware (OVMF)", _vm_only(_firmware)),
    ("Kernel", lambda i: str(i.get("guest_kernel") or i.get("kernel") or "")),
    ("Work folder", lambda i: str(i.get("work_fs") or "")),
    ("Confirmed mode", _vm_only(_confirmed)),
    ("Attestation", _vm_only(_attested)),
)


def system_table(runs: list[RunRow], profiles: list[str]) -> SystemTable:
    """The host rows over RUNS, and one column per profile in PROFILES."""
    provenance = [run.provenance for run in runs]
    hosts = [run.target_info.get("host", {}) for run in runs]
    host = [
        ("Host", _joined(str(p.get("host") or "") for p in provenance)),
        ("Host CPU", _joined(_cpu(p) for p in provenance)),
        ("Host memory", _joined(_memory(p) for p in provenance)),
        ("Host config", _joined(_config(p, h) for p, h in zip(provenance, hosts, strict=True))),
        ("Host kernel", _joined(str(p.get("host_kernel") or "") for p in provenance)),
        ("SEV firmware", _joined(_sev_firmware(p) for p in provenance)),
        ("QEMU", _joined(str(p.get("qemu") or "") for p in provenance)),
        ("sevtui", _joined(str(p.get("sevtui") or "") for p in provenance)),
    ]
    guests = []
    for title, fact in GUEST_FACTS:
        values = []
        for profile in profiles:
            infos = [run.target_info[profile] for run in runs if profile in run.target_info]
            values.append(_joined(fact(info) for info in infos))
        guests.append((title, values))
    return SystemTable(host, profiles, guests)
