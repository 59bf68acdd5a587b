"""Every VM on this host in one list: configured ones and external QEMU processes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sevtui.config import Config
from sevtui.vm.lifecycle import VmStatus, list_configured
from sevtui.vm.monitor import ProcessSample, find_qemu_processes, sample
from sevtui.vm.qmp import QmpClient, QmpError
from sevtui.vm.resolve import vm_paths


@dataclass
class VmRow:
    """A VM's status plus live samples and what QMP says."""

    status: VmStatus
    sample: ProcessSample | None = None
    qmp_status: str = ""
    sev: dict[str, Any] | str = ""

    def to_json(self) -> dict[str, Any]:
        """The `vm list --json` row."""
        data = self.status.to_json()
        data.update(
            rss_bytes=self.sample.rss_bytes if self.sample else None,
            cpu_percent=self.sample.cpu_percent if self.sample else None,
            uptime_s=round(self.sample.uptime_s, 1) if self.sample else None,
            qmp_status=self.qmp_status,
            sev=self.sev,
        )
        return data


def query_qmp(config: Config, name: str) -> tuple[str, dict[str, Any] | str]:
    """(run state, query-sev result or why it is not available) for a running VM."""
    try:
        with QmpClient(vm_paths(config, name).qmp, timeout=2.0) as qmp:
            run_state = qmp.execute("query-status").get("status", "")
            try:
                sev = qmp.execute("query-sev")
            except QmpError as exc:
                return str(run_state), exc.message.removeprefix("QEMU refused query-sev: ")
            return str(run_state), sev if isinstance(sev, dict) else str(sev)
    except QmpError as exc:
        return "", f"QMP unavailable: {exc.message}"


def inventory(config: Config, interval: float = 0.2, with_qmp: bool = True) -> list[VmRow]:
    """Configured VMs (with state) and external QEMU processes, sampled over INTERVAL."""
    rows = [VmRow(status) for status in list_configured(config)]
    ours = {row.status.pid for row in rows if row.status.pid}
    for found in find_qemu_processes(exclude=ours):
        rows.append(
            VmRow(
                VmStatus(
                    name=found.name,
                    kind=found.kind,
                    state="running",
                    pid=found.pid,
                    external=True,
                    accel=found.accel,
                    vcpus=found.vcpus,
                    memory=found.memory,
                ),
                sev="external: QMP not managed by sevtui",
            )
        )
    samples = sample([row.status.pid for row in rows if row.status.pid], interval)
    for row in rows:
        if row.status.pid:
            row.sample = samples.get(row.status.pid)
        if with_qmp and row.status.state == "running" and not row.status.external:
            row.qmp_status, row.sev = query_qmp(config, row.status.name)
    return rows
