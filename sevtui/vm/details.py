"""What the front ends show of one VM: its argv as planned, and its detail view."""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any

from sevtui.base import statedir
from sevtui.config import Config
from sevtui.host.caps import CapabilityReport
from sevtui.store.rows import AttestationRow
from sevtui.vm.lifecycle import plan, status, vm_record
from sevtui.vm.ref import VmRef
from sevtui.vm.sevparams import policy_flags
from sevtui.vm.spec import DEFAULT_POLICY, build_argv


@dataclass(frozen=True)
class VmDetails:
    """What the VM detail view shows."""

    name: str
    argv: list[str]
    state_dir: str
    stderr_tail: str
    console_tail: str
    provenance: dict[str, Any]


@dataclass(frozen=True)
class ArgvPlan:
    """A VM's QEMU argv without starting it: why this accel, the firmware, the policy in
    words, warnings (`notes`) and what would stop a launch (`blockers`)."""

    argv: list[str]
    accel_reason: str
    notes: list[str]
    blockers: list[str]
    firmware: dict[str, Any]
    policy: str
    policy_flags: list[str]

    def to_json(self) -> dict[str, Any]:
        """The JSON of `vm argv --json`."""
        return {
            "argv": self.argv,
            "accel_reason": self.accel_reason,
            "firmware": self.firmware,
            "policy": self.policy,
            "policy_flags": self.policy_flags,
            "warnings": self.notes,
            "blockers": self.blockers,
        }


def argv_plan(config: Config, vm: VmRef, report: CapabilityReport) -> ArgvPlan:
    """The QEMU argv VM would start with on the host of REPORT."""
    resolved, why = plan(config, vm, report)
    spec = resolved.spec
    return ArgvPlan(
        build_argv(spec),
        why,
        list(resolved.notes),
        list(resolved.blockers),
        resolved.firmware.to_json(),
        f"{spec.policy:#x}" if spec.kind != "nosev" else "",
        policy_flags(spec.kind, spec.policy),
    )


def vm_details(vm: VmRef, attestation: AttestationRow | None) -> VmDetails:
    """argv, state dir, stderr and console tails, how VM was started, its last attestation
    and its policy in words."""
    root = vm.paths.root

    def tail(file: str) -> str:
        text = statedir.tail(root, file, 16 << 10).decode(errors="replace")
        return "\n".join(text.splitlines()[-15:])

    record = vm_record(vm.paths)
    argv = record.argv
    saved = statedir.read(root, "argv.json") if not argv else None
    if saved:
        with contextlib.suppress(ValueError):
            argv = [str(arg) for arg in json.loads(saved)]
    current = status(vm)
    provenance: dict[str, Any] = {
        "state": current.state,
        "ended": current.detail or None,
        "pid": record.pid,
        "accel": record.accel,
        "accel_reason": record.accel_reason,
    }
    if record.started_at:
        provenance["at"] = _local(record.started_at)
    if attestation is not None:
        provenance["attestation"] = f"{_attested(attestation)} (at {_local(attestation.created)})"
    profile = vm.profile
    if profile.kind != "nosev":
        policy = profile.policy if profile.policy is not None else DEFAULT_POLICY[profile.kind]
        flags = ", ".join(policy_flags(profile.kind, policy))
        provenance["policy"] = f"{policy:#x}: {flags}"
    return VmDetails(
        vm.name, list(argv), str(root), tail("stderr.log"), tail("serial.log"), provenance
    )


def _local(when: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when))


def _attested(row: AttestationRow) -> str:
    """The stored attestation's verdict in words."""
    if row.status == "verified":
        return f"verified, measurement {row.measurement}"
    return f"{row.status}: {'; '.join(row.reasons) or '-'}"
