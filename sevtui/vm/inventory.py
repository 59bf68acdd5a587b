"""Every VM on this host in one list: configured ones and external QEMU processes."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psutil

from sevtui.config import Config
from sevtui.vm.lifecycle import VmStatus, list_configured
from sevtui.vm.monitor import ProcessSample, find_qemu_processes, sample, sample_now
from sevtui.vm.qmp import QmpClient, QmpError
from sevtui.vm.ref import state_paths
from sevtui.vm.spec import VmPaths


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


@dataclass(frozen=True)
class QmpFacts:
    """What QMP says about a running VM: run state, SEV status, guest RAM."""

    run_state: str
    sev: dict[str, Any] | str
    memory: int | None = None


def query_qmp(paths: VmPaths) -> QmpFacts:
    """Run state, query-sev (or why not) and the guest's RAM for the running VM of PATHS."""
    try:
        with QmpClient(paths.qmp, timeout=2.0) as qmp:
            run_state = str(qmp.execute("query-status").get("status", ""))
            memory = guest_memory(qmp)
            try:
                sev = qmp.execute("query-sev")
            except QmpError as exc:
                return QmpFacts(
                    run_state, exc.message.removeprefix("QEMU refused query-sev: "), memory
                )
            return QmpFacts(run_state, sev if isinstance(sev, dict) else str(sev), memory)
    except QmpError as exc:
        return QmpFacts("", f"QMP unavailable: {exc.message}")


def guest_memory(qmp: QmpClient) -> int | None:
    """The guest's RAM as QEMU reports it (query-memory-size-summary), in bytes."""
    try:
        summary = qmp.execute("query-memory-size-summary")
    except QmpError:
        return None
    base = summary.get("base-memory")
    plugged = summary.get("plugged-memory", 0)
    return int(base) + int(plugged or 0) if isinstance(base, int) else None


def _apply(row: VmRow, facts: QmpFacts) -> None:
    row.qmp_status, row.sev = facts.run_state, facts.sev
    if facts.memory:
        row.status.memory = facts.memory


def discover(config: Config) -> list[VmRow]:
    """Configured VMs with their state, then external QEMU processes (no samples yet)."""
    rows = [VmRow(status) for status in list_configured(config)]
    ours = {row.status.pid for row in rows if row.status.pid}
    return rows + external_rows(ours, set(config.vm))


def external_rows(ours: Iterable[int | None], configured: set[str] | None = None) -> list[VmRow]:
    """Rows for QEMU processes not among the configured VMs: a sweep's variant of a
    configured VM (started by a run) says whose variant it is; others are foreign."""
    rows = []
    for found in find_qemu_processes(exclude={pid for pid in ours if pid}):
        stem, at, _params = found.name.partition("@")
        base = stem if at and stem in (configured or set()) else ""
        status = VmStatus(
            name=found.name,
            kind=found.kind,
            state="running",
            pid=found.pid,
            external=True,
            accel=found.accel,
            vcpus=found.vcpus,
            memory=found.memory,
            variant_of=base,
        )
        sev = (
            f"variant of {base}: a sweep runs it" if base else "external: QMP not managed by sevtui"
        )
        rows.append(VmRow(status, sev=sev))
    return rows


def inventory(config: Config, interval: float = 0.2, with_qmp: bool = True) -> list[VmRow]:
    """Configured VMs (with state) and external QEMU processes, sampled over INTERVAL."""
    rows = discover(config)
    samples = sample([row.status.pid for row in rows if row.status.pid], interval)
    for row in rows:
        if row.status.pid:
            row.sample = samples.get(row.status.pid)
        if with_qmp and row.status.state == "running" and not row.status.external:
            _apply(row, query_qmp(state_paths(config, row.status.name)))
    return rows


class InventoryWatcher:
    """Inventories for a live view: CPU % since the previous poll, QMP asked every few s."""

    def __init__(
        self, config: Config, qmp_every_s: float = 10.0, external_every_s: float = 5.0
    ) -> None:
        self.config = config
        self.qmp_every_s = qmp_every_s
        self.external_every_s = external_every_s
        self._procs: dict[int, psutil.Process] = {}
        self._qmp: dict[int, tuple[float, QmpFacts]] = {}
        self._external: tuple[float, list[VmRow]] = (-math.inf, [])

    def poll(self) -> list[VmRow]:
        """One refresh: state, RSS, CPU %, uptime; the process scan and QMP less often."""
        rows = [VmRow(status) for status in list_configured(self.config)]
        scanned_at, external = self._external
        if time.monotonic() - scanned_at > self.external_every_s:
            external = external_rows({row.status.pid for row in rows}, set(self.config.vm))
            self._external = (time.monotonic(), external)
        ours = {row.status.pid for row in rows}
        rows += [VmRow(row.status, sev=row.sev) for row in external if row.status.pid not in ours]
        live = {row.status.pid for row in rows if row.status.pid is not None}
        for gone in set(self._procs) - live:
            del self._procs[gone]
            self._qmp.pop(gone, None)
        for new in live - set(self._procs):
            try:
                proc = psutil.Process(new)
                proc.cpu_percent(None)
                self._procs[new] = proc
            except psutil.Error:
                continue
        samples = sample_now(self._procs)
        now = time.monotonic()
        for row in rows:
            pid = row.status.pid
            if not pid:
                continue
            row.sample = samples.get(pid)
            if row.status.external or row.status.state != "running":
                continue
            cached = self._qmp.get(pid)
            if cached is None or now - cached[0] > self.qmp_every_s:
                cached = (now, query_qmp(state_paths(self.config, row.status.name)))
                self._qmp[pid] = cached
            _apply(row, cached[1])
        return rows
