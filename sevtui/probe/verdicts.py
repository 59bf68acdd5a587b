"""Which stored probe verdicts still apply: a verdict belongs to one QEMU process."""

from __future__ import annotations

from sevtui.base.errors import SevtuiError
from sevtui.base.proc import process_started
from sevtui.config import Config
from sevtui.probe.exposure import ProbeResult
from sevtui.store.db import Store
from sevtui.store.rows import ProbeRow
from sevtui.vm.lifecycle import status
from sevtui.vm.ref import lookup


def current_verdicts(store: Store, config: Config) -> dict[str, tuple[ProbeResult, float]]:
    """The newest stored probe of each configured VM whose QEMU is the one probed, with
    when it ran: after a restart (new PID or start time) a VM has no verdict until it
    is probed again."""
    found = {}
    for name in config.vm:
        row = store.last_probe(name)
        try:
            pid = status(lookup(config, name)).pid
        except SevtuiError:
            continue
        if row is not None and _same_qemu(row, pid) and row.method in ("scan", "gcore"):
            result = ProbeResult(
                "gcore" if row.method == "gcore" else "scan",
                row.found,
                row.hits,
                row.bytes_scanned,
                row.seconds,
                inconclusive=row.reason,
            )
            found[name] = (result, row.created)
    return found


def _same_qemu(row: ProbeRow, pid: int | None) -> bool:
    """Did ROW probe the process that runs as PID now (same PID and start time)?"""
    started = process_started(pid)
    return (
        row.qemu_pid == pid
        and row.qemu_started is not None
        and started is not None
        and abs(row.qemu_started - started) < 1
    )
