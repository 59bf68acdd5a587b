"""The launch measurement an SEV-SNP guest should have, from what sevtui actually launched.

The inputs are read from the argv QEMU ran with (vm.json): the firmware (-bios), the
kernel, initrd and command line (-kernel/-initrd/-append, measured by the firmware with
kernel-hashes=on), the vCPU count (-smp) and type (-cpu). The digest comes from the
sev-snp-measure package (the reference implementation of the SNP launch digest).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

GUEST_FEATURES = 0x1
"""SNPActive only: QEMU's default VMSA SEV features for an SNP guest."""


@dataclass(frozen=True)
class Expected:
    """The expected measurement (hex), or why it cannot be computed; and its inputs."""

    measurement: str | None
    inputs: dict[str, str]
    problem: str = ""


def _option(argv: list[str], flag: str) -> str | None:
    values = [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == flag]
    return values[-1] if values else None


def launch_inputs(argv: list[str]) -> dict[str, str]:
    """What the measurement depends on, as the argv says it."""
    inputs = {
        "firmware": _option(argv, "-bios") or "",
        "kernel": _option(argv, "-kernel") or "",
        "initrd": _option(argv, "-initrd") or "",
        "append": _option(argv, "-append") or "",
        "vcpus": (_option(argv, "-smp") or "1").split(",")[0],
        "vcpu_type": (_option(argv, "-cpu") or "").split(",")[0],
        "guest_features": f"{GUEST_FEATURES:#x}",
    }
    return inputs


def expected(argv: list[str]) -> Expected:
    """The SNP launch digest for ARGV, or the reason it cannot be computed."""
    from sevsnpmeasure.guest import snp_calc_launch_digest
    from sevsnpmeasure.vcpu_types import CPU_SIGS

    inputs = launch_inputs(argv)
    if not inputs["firmware"]:
        return Expected(None, inputs, "the VM was not launched with -bios firmware")
    signature = CPU_SIGS.get(inputs["vcpu_type"])
    if signature is None:
        return Expected(
            None,
            inputs,
            f"vCPU type {inputs['vcpu_type']!r} has no fixed CPUID signature; set "
            "vm.NAME.cpu to an EPYC model (e.g. EPYC-v4) to predict the measurement",
        )
    if not inputs["vcpus"].isdigit():
        return Expected(None, inputs, f"cannot read the vCPU count from -smp {inputs['vcpus']}")
    files = [inputs[key] for key in ("firmware", "kernel", "initrd") if inputs[key]]
    missing = [name for name in files if not Path(name).is_file()]
    if missing:
        return Expected(None, inputs, f"launch input {missing[0]} is gone")
    for key in ("firmware", "kernel", "initrd"):
        if inputs[key]:
            inputs[f"{key}_sha256"] = hashlib.sha256(Path(inputs[key]).read_bytes()).hexdigest()
    try:
        digest = snp_calc_launch_digest(
            int(inputs["vcpus"]),
            signature,
            inputs["firmware"],
            inputs["kernel"] or None,
            inputs["initrd"] or None,
            inputs["append"] or None,
            GUEST_FEATURES,
            "",
        )
    except (ValueError, RuntimeError, OSError) as exc:
        return Expected(None, inputs, f"sev-snp-measure could not measure these inputs: {exc}")
    return Expected(digest.hex(), inputs)


def mismatch_hint(inputs: dict[str, str]) -> str:
    """What to check when the report's measurement is not the expected one."""
    return (
        "the guest was not launched with what sevtui expected: check the firmware "
        f"({inputs.get('firmware')}, sha256 {inputs.get('firmware_sha256', '?')[:16]}), the "
        f"kernel, initrd and command line (kernel-hashes), vCPUs ({inputs.get('vcpus')}) and "
        f"vCPU type ({inputs.get('vcpu_type')}); any change to one changes the measurement"
    )
