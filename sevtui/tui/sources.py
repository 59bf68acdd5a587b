"""What the TUI reads and does, behind one interface: live (the session) or fake (tests).

Every method may block; the app calls them only from thread workers. LiveSources is a
thin adapter: the work is done by sevtui.session.Session, which the CLI uses too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sevtui.bench.events import Design, Event, PlanNotes, RunPlan

if TYPE_CHECKING:
    from sevtui.bench.along import AlongPoint
    from sevtui.bench.results import ComparisonSet
    from sevtui.bench.runner import RunOutcome
    from sevtui.config import Config
    from sevtui.host.caps import CapabilityReport
    from sevtui.probe.exposure import ProbeResult
    from sevtui.session import Session, VmDetails
    from sevtui.store.db import AttestationRow, RunInfo
    from sevtui.vm.inventory import VmRow


class Sources(Protocol):
    """Data and actions behind the app."""

    host_name: str
    data_dir: str
    vm_names: list[str]
    suites: list[str]
    cv_threshold_pct: float
    default_repetitions: int

    def capabilities(self) -> CapabilityReport: ...
    def vms(self) -> list[VmRow]: ...
    def start_vm(self, name: str) -> str: ...
    def stop_vm(self, name: str, kill: bool, force: bool = False) -> str: ...
    def vm_user(self, name: str) -> str | None: ...
    def probe_vm(self, name: str) -> ProbeResult: ...
    def last_probes(self) -> dict[str, tuple[ProbeResult, float]]: ...
    def last_attestations(self) -> dict[str, AttestationRow]: ...
    def exec_vm(self, name: str, command: str) -> tuple[str, int]: ...
    def vm_details(self, name: str) -> VmDetails: ...
    def runs(self) -> list[RunInfo]: ...
    def fleet_hosts(self) -> list[dict[str, str]]: ...
    def profiles(self, run_ids: list[int]) -> list[str]: ...
    def comparisons(self, run_ids: list[int], base: str, others: list[str]) -> ComparisonSet: ...
    def comparisons_by_host(
        self, run_ids: list[int], base: str, other: str
    ) -> dict[str, ComparisonSet]: ...
    def compare_along(
        self, run_ids: list[int], base: str, other: str, parameter: str
    ) -> list[AlongPoint]: ...
    def metric_values(
        self, run_ids: list[int], benchmark: str, metric: str
    ) -> dict[str, list[float]]: ...
    def make_plan(
        self,
        targets: list[str],
        suite: str,
        repetitions: int,
        label: str | None,
        warmup: int | None = None,
        design: Design | None = None,
    ) -> RunPlan: ...
    def plan_notes(self, plan: RunPlan) -> PlanNotes: ...
    def run_details(self, run_id: int) -> list[str]: ...
    def write_report(
        self, run_ids: list[int], base: str, others: list[str], folder: Path
    ) -> list[Path]: ...
    def start_blockers(self) -> dict[str, str]: ...
    def run_bench(
        self, plan: RunPlan, emit: Callable[[Event], None], stop: threading.Event
    ) -> RunOutcome: ...


EXEC_TIMEOUT_S = 120.0


class LiveSources:
    """The real thing: this host, its QEMU processes and the results database."""

    def __init__(self, config: Config) -> None:
        from sevtui.session import Session

        self.session: Session = Session(config)
        self.host_name = self.session.host_name
        self.data_dir = str(config.paths.data_dir)
        self.vm_names = list(config.vm)
        self.cv_threshold_pct = config.bench.cv_threshold_pct
        self.default_repetitions = config.bench.repetitions
        self.suites = sorted(self.session.catalog.suites)

    def capabilities(self) -> CapabilityReport:
        """The host report (computed once)."""
        return self.session.capabilities()

    def vms(self) -> list[VmRow]:
        """One refresh of the VM table."""
        return self.session.vms()

    def start_vm(self, name: str) -> str:
        """Start VM NAME and wait for its guest."""
        return self.session.start_vm(name).summary()

    def stop_vm(self, name: str, kill: bool, force: bool = False) -> str:
        """Stop (or kill) VM NAME; FORCE when the user confirmed a benchmark holds it."""
        return self.session.stop_vm(name, kill=kill, force=force).summary()

    def vm_user(self, name: str) -> str | None:
        """The benchmark run holding VM NAME, if any."""
        return self.session.vm_user(name)

    def probe_vm(self, name: str) -> ProbeResult:
        """Plant a canary, scan QEMU's guest RAM, store the verdict."""
        return self.session.probe_vm(name)[0]

    def last_probes(self) -> dict[str, tuple[ProbeResult, float]]:
        """The newest stored probe of each configured VM."""
        return self.session.last_probes()

    def last_attestations(self) -> dict[str, AttestationRow]:
        """The newest stored attestation of each VM."""
        return self.session.last_attestations()

    def exec_vm(self, name: str, command: str) -> tuple[str, int]:
        """Run COMMAND in the guest."""
        return self.session.exec_vm(name, command, EXEC_TIMEOUT_S)

    def vm_details(self, name: str) -> VmDetails:
        """argv, state dir, logs and how it was started."""
        return self.session.vm_details(name)

    def runs(self) -> list[RunInfo]:
        """Stored runs, newest first."""
        return self.session.runs()

    def fleet_hosts(self) -> list[dict[str, str]]:
        """The hosts of the last (or running) `sevtui fleet` command."""
        return self.session.fleet_hosts()

    def profiles(self, run_ids: list[int]) -> list[str]:
        """Profiles measured in these runs."""
        return self.session.profiles(run_ids)

    def comparisons(self, run_ids: list[int], base: str, others: list[str]) -> ComparisonSet:
        """The base compared with each of the other profiles."""
        return self.session.comparisons(run_ids, base, others)

    def comparisons_by_host(
        self, run_ids: list[int], base: str, other: str
    ) -> dict[str, ComparisonSet]:
        """BASE against OTHER on each host's runs (runs merged from a fleet)."""
        return {
            host: self.session.comparisons(ids, base, [other])
            for host, ids in sorted(self.session.hosts(run_ids).items())
        }

    def compare_along(
        self, run_ids: list[int], base: str, other: str, parameter: str
    ) -> list[AlongPoint]:
        """A sweep's overhead of OTHER over BASE at each value of PARAMETER."""
        return self.session.compare_along(run_ids, base, other, parameter)

    def metric_values(
        self, run_ids: list[int], benchmark: str, metric: str
    ) -> dict[str, list[float]]:
        """Every value of one metric, per profile."""
        return self.session.metric_values(run_ids, benchmark, metric)

    def make_plan(
        self,
        targets: list[str],
        suite: str,
        repetitions: int,
        label: str | None,
        warmup: int | None = None,
        design: Design | None = None,
    ) -> RunPlan:
        """A run plan with the config's settings."""
        return self.session.plan_run(targets, suite, repetitions, label, warmup, design)

    def start_blockers(self) -> dict[str, str]:
        """Stopped VMs that cannot start here, with the reason."""
        return self.session.start_blockers()

    def run_details(self, run_id: int) -> list[str]:
        """One run's status, design, statistics and details as text lines."""
        return self.session.report(str(run_id)).detail_lines()

    def write_report(
        self, run_ids: list[int], base: str, others: list[str], folder: Path
    ) -> list[Path]:
        """The report folder (the export dialog asked before replacing one)."""
        return self.session.write_report(run_ids, base, others, folder, replace=True)

    def plan_notes(self, plan: RunPlan) -> PlanNotes:
        """What the plan will do, said before it starts."""
        return self.session.plan_notes(plan)

    def run_bench(
        self, plan: RunPlan, emit: Callable[[Event], None], stop: threading.Event
    ) -> RunOutcome:
        """Run a suite (blocking); STOP interrupts it, keeping what was measured."""
        return self.session.run(plan, emit, stop)
