"""What the TUI reads and does, behind one interface: live (the core) or fake (tests).

Every method may block; the app calls them only from thread workers. The live
implementation opens its own SQLite connection per call, in the calling thread.
"""

from __future__ import annotations

import json
import platform
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sevtui.bench.events import Event, RunPlan

if TYPE_CHECKING:
    from sevtui.bench.results import ComparisonSet
    from sevtui.bench.runner import RunOutcome
    from sevtui.config import Config
    from sevtui.host.caps import CapabilityReport
    from sevtui.probe import ProbeResult
    from sevtui.store import RunInfo
    from sevtui.vm.inventory import InventoryWatcher, VmRow


@dataclass(frozen=True)
class VmDetails:
    """What the VM detail view shows."""

    name: str
    argv: list[str]
    state_dir: str
    stderr_tail: str
    console_tail: str
    provenance: dict[str, Any]


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
    def stop_vm(self, name: str, kill: bool) -> str: ...
    def probe_vm(self, name: str) -> ProbeResult: ...
    def last_probes(self) -> dict[str, tuple[ProbeResult, float]]: ...
    def exec_vm(self, name: str, command: str) -> tuple[str, int]: ...
    def vm_details(self, name: str) -> VmDetails: ...
    def runs(self) -> list[RunInfo]: ...
    def profiles(self, run_ids: list[int]) -> list[str]: ...
    def comparisons(self, run_ids: list[int], base: str, others: list[str]) -> ComparisonSet: ...
    def metric_values(
        self, run_ids: list[int], benchmark: str, metric: str
    ) -> dict[str, list[float]]: ...
    def make_plan(
        self, targets: list[str], suite: str, repetitions: int, label: str
    ) -> RunPlan: ...
    def run_bench(
        self, plan: RunPlan, emit: Callable[[Event], None], stop: threading.Event
    ) -> RunOutcome: ...


class LiveSources:
    """The real thing: this host, its QEMU processes and the results database."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.host_name = platform.node()
        self.data_dir = str(config.paths.data_dir)
        self.vm_names = list(config.vm)
        self.cv_threshold_pct = config.bench.cv_threshold_pct
        self.default_repetitions = config.bench.repetitions
        from sevtui.bench.catalog import catalog_from_config

        self.suites = sorted(catalog_from_config(config).suites)
        self._watcher: InventoryWatcher | None = None
        self._report: CapabilityReport | None = None

    def capabilities(self) -> CapabilityReport:
        """The host report (computed once; the KVM probe is cached on disk too)."""
        from sevtui.host.inspect import inspect_host

        if self._report is None:
            self._report = inspect_host(self.config)
        return self._report

    def vms(self) -> list[VmRow]:
        """One refresh of the VM table."""
        if self._watcher is None:
            from sevtui.vm.inventory import InventoryWatcher

            self._watcher = InventoryWatcher(self.config)
        return self._watcher.poll()

    def start_vm(self, name: str) -> str:
        """Start VM NAME and wait for its guest."""
        from sevtui.vm.lifecycle import start

        result = start(self.config, name, self.capabilities())
        ready = f", ready after {result.seconds_to_ready:.1f} s" if result.seconds_to_ready else ""
        return f"{name}: running, PID {result.pid} ({result.accel}){ready}"

    def stop_vm(self, name: str, kill: bool) -> str:
        """Stop (or kill) VM NAME."""
        from sevtui.vm.lifecycle import stop

        result = stop(self.config, name, kill=kill)
        return f"{name}: stopped by {result.step} after {result.seconds:.1f} s"

    def probe_vm(self, name: str) -> ProbeResult:
        """Plant a canary, scan QEMU's guest RAM, store the verdict."""
        from sevtui.probe import probe_vm

        return probe_vm(self.config, name)[0]

    def last_probes(self) -> dict[str, tuple[ProbeResult, float]]:
        """The newest stored probe of each configured VM, with when it ran."""
        from sevtui.probe import ProbeResult

        def collect(store: Any) -> dict[str, tuple[ProbeResult, float]]:
            found = {}
            for name in self.vm_names:
                row = store.last_probe(name)
                if row is not None:
                    result = ProbeResult(
                        row["method"],
                        bool(row["found"]),
                        row["hits"],
                        row["bytes_scanned"],
                        row["seconds"],
                    )
                    found[name] = (result, float(row["created"]))
            return found

        result: dict[str, tuple[ProbeResult, float]] = self._with_store(collect)
        return result

    def exec_vm(self, name: str, command: str) -> tuple[str, int]:
        """Run COMMAND in the guest (ssh for cloud guests, else the console)."""
        from sevtui.vm import remote

        return remote.runner(self.config, name)(command, 120)

    def vm_details(self, name: str) -> VmDetails:
        """argv, state dir, stderr and console tails, and how it was started."""
        from sevtui.vm.lifecycle import vm_record
        from sevtui.vm.resolve import vm_paths

        root = vm_paths(self.config, name).root

        def tail(file: str) -> str:
            try:
                return "\n".join((root / file).read_text(errors="replace").splitlines()[-15:])
            except OSError:
                return ""

        record = vm_record(self.config, name)
        argv = (
            record.get("argv") or json.loads((root / "argv.json").read_text())
            if (root / "argv.json").exists()
            else []
        )
        provenance = {k: record.get(k) for k in ("pid", "accel", "accel_reason")}
        if record.get("started_at"):
            provenance["at"] = time.strftime(
                "%Y-%m-%d %H:%M:%S", time.localtime(record["started_at"])
            )
        return VmDetails(
            name, list(argv), str(root), tail("stderr.log"), tail("serial.log"), provenance
        )

    def _with_store(self, action: Callable[[Any], Any]) -> Any:
        from sevtui.store import Store

        store = Store(self.config.paths.db)
        try:
            return action(store)
        finally:
            store.close()

    def runs(self) -> list[RunInfo]:
        """Stored runs, newest first."""
        result: list[RunInfo] = self._with_store(lambda store: store.runs())
        return result

    def profiles(self, run_ids: list[int]) -> list[str]:
        """Profiles measured in these runs."""
        from sevtui.bench.results import profiles

        result: list[str] = self._with_store(lambda store: profiles(store.series(run_ids)))
        return result

    def comparisons(self, run_ids: list[int], base: str, others: list[str]) -> ComparisonSet:
        """The base compared with each of the other profiles."""
        from sevtui.bench.catalog import catalog_from_config
        from sevtui.bench.results import build_comparisons

        headlines = catalog_from_config(self.config).headlines()
        result: ComparisonSet = self._with_store(
            lambda store: build_comparisons(
                store.series(run_ids),
                base,
                others,
                self.cv_threshold_pct,
                headlines,
                store.facts(run_ids),
            )
        )
        return result

    def metric_values(
        self, run_ids: list[int], benchmark: str, metric: str
    ) -> dict[str, list[float]]:
        """Every value of one metric, per profile (for the repetitions chart)."""

        def collect(store: Any) -> dict[str, list[float]]:
            values: dict[str, list[float]] = {}
            for m in store.samples(run_ids):
                if m.benchmark == benchmark and m.metric == metric:
                    values.setdefault(m.target, []).append(m.value)
            return values

        result: dict[str, list[float]] = self._with_store(collect)
        return result

    def make_plan(self, targets: list[str], suite: str, repetitions: int, label: str) -> RunPlan:
        """A run plan with the config's warm-up, cap and noise threshold."""
        bench = self.config.bench
        return RunPlan(
            targets=targets,
            suite=suite,
            repetitions=repetitions,
            label=label,
            warmup=bench.warmup,
            max_repetitions=max(bench.max_repetitions, repetitions),
            cv_threshold_pct=bench.cv_threshold_pct,
            timeout_s=bench.timeout_s,
        )

    def run_bench(
        self, plan: RunPlan, emit: Callable[[Event], None], stop: threading.Event
    ) -> RunOutcome:
        """Run a suite (blocking); STOP interrupts it, keeping what was measured."""
        from sevtui.bench.catalog import catalog_from_config
        from sevtui.bench.runner import run_suite

        result: RunOutcome = self._with_store(
            lambda store: run_suite(
                self.config,
                store,
                catalog_from_config(self.config),
                plan,
                self.capabilities(),
                emit,
                stop,
            )
        )
        return result
