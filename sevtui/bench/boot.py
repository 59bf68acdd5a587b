"""The boot benchmark: stop a VM, start it cold, and time each phase from the host.

Phases are seconds from QEMU's start: QMP answering, the first byte on the serial
console, the kernel's first line (when the console shows kernel messages), and ready
(the minimal guest's ready marker; for disk guests, the first answer of its shell).
Where the guest reports its own times (the minimal guest's uptime at ready, systemd's
`Startup finished in ...`), they are recorded too.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from sevtui.base.errors import SevtuiError
from sevtui.base.proc import process_started
from sevtui.base.values import Value
from sevtui.config import Config
from sevtui.host.caps import CapabilityReport
from sevtui.vm import lifecycle
from sevtui.vm.ref import VmRef

if TYPE_CHECKING:
    from sevtui.bench.targets import GuestTarget

SHELL_WAIT_S = 300.0
METRICS = {
    "qmp": "QMP ready",
    "console": "console first byte",
    "kernel": "kernel first line",
    "ready": "ready",
    "guest_uptime": "guest uptime at ready",
    "firmware": "guest firmware",
    "loader": "guest loader",
    "guest_kernel": "guest kernel",
    "userspace": "guest userspace",
}
_SYSTEMD = re.compile(r"([0-9.]+)(min|ms|us|s) \((firmware|loader|kernel|userspace)\)")
_UNITS = {"min": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6}


def relaunch(
    config: Config, report: CapabilityReport, vm: VmRef, target: GuestTarget
) -> dict[str, float]:
    """Stop VM, start it again and return its boot phases; TARGET's PIDs follow."""
    if lifecycle.status(vm).state == "running":
        lifecycle.stop(vm)
    started = time.monotonic()
    result = lifecycle.start(config, vm, report)
    record = lifecycle.vm_record(vm.paths)
    target.pids = {pid for pid in (result.pid, record.supervisor_pid) if pid is not None}
    if result.pid is not None:
        target.qemu = (result.pid, process_started(result.pid) or 0.0)
    phases = dict(result.phases)
    if "ready" not in phases:
        phases["ready"] = _shell_answers(target, started)
    answer = target.run("systemd-analyze 2>/dev/null | head -n 1", 60).output
    phases |= systemd_phases(answer)
    return phases


def _shell_answers(target: GuestTarget, started: float) -> float:
    """Seconds until the guest's shell answers (disk guests have no ready marker)."""
    deadline = started + SHELL_WAIT_S
    while time.monotonic() < deadline:
        try:
            if target.run("true", 10).status == 0:
                return time.monotonic() - started
        except SevtuiError:
            pass
        time.sleep(1)
    raise SevtuiError(f"{target.name} did not answer within {SHELL_WAIT_S:.0f} s of its start")


def systemd_phases(text: str) -> dict[str, float]:
    """Seconds per phase from `systemd-analyze` ("Startup finished in 1.2s (kernel) + ...")."""
    phases: dict[str, float] = {}
    for number, unit, phase in _SYSTEMD.findall(text):
        phases["guest_kernel" if phase == "kernel" else phase] = float(number) * _UNITS[unit]
    return phases


def values(phases: dict[str, float]) -> list[Value]:
    """The phases as measurements (seconds, lower is better), in METRICS order."""
    return [
        Value(METRICS[key], "s", "lower", round(phases[key], 6)) for key in METRICS if key in phases
    ]
