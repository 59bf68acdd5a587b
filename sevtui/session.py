"""The one facade both front ends call: the CLI prints what it returns, the TUI posts it.

A Session holds one config and computes the host's capability report once. Every method
may block (subprocess, QMP, SQLite); the TUI calls them from thread workers. SQLite
connections are opened per call, in the calling thread.
"""

from __future__ import annotations

import platform
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sevtui.base.errors import UsageError
from sevtui.bench.events import Design, Event, PlanNotes, RunPlan

if TYPE_CHECKING:
    from sevtui.attest.service import Attestation
    from sevtui.attest.tdquote import TdQuoteResult
    from sevtui.bench.along import AlongPoint
    from sevtui.bench.catalog import Catalog
    from sevtui.bench.importer import ImportRequest
    from sevtui.bench.results import ComparisonSet
    from sevtui.bench.runner import RunOutcome
    from sevtui.bench.runreport import Comparer, RunReport
    from sevtui.config import Config
    from sevtui.fleet.run import FleetRequest, HostOutcome, HostProgress
    from sevtui.host.caps import CapabilityReport
    from sevtui.probe.exposure import Method, ProbeResult
    from sevtui.report.figures import PlotRequest
    from sevtui.store.db import Store
    from sevtui.store.merge import MergedFile
    from sevtui.store.rows import AttestationRow, RunInfo
    from sevtui.vm.cloud import CloudVm
    from sevtui.vm.details import ArgvPlan, VmDetails
    from sevtui.vm.inventory import InventoryWatcher, VmRow
    from sevtui.vm.lifecycle import StartResult, StopResult
    from sevtui.vm.ref import VmRef

Progress = Callable[[str], None]


def _quiet(_message: str) -> None:
    """Progress nobody reads."""


class Session:
    """Config, capabilities, VMs, runs and results, for the CLI and the TUI alike."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.host_name = platform.node()
        self._report: CapabilityReport | None = None
        self._report_lock = threading.Lock()
        self._catalog: Catalog | None = None
        self._watcher: InventoryWatcher | None = None

    def _vm(self, name: str) -> VmRef:
        """VM NAME looked up once for the action at hand (a clear error when unknown)."""
        from sevtui.vm.ref import lookup

        return lookup(self.config, name)

    @property
    def data_dir(self) -> str:
        """Where sevtui keeps its data (exports go below it by default)."""
        return str(self.config.paths.data_dir)

    @property
    def vm_names(self) -> list[str]:
        """The configured VMs, in config order."""
        return list(self.config.vm)

    @property
    def suites(self) -> list[str]:
        """The suites a run can use."""
        return sorted(self.catalog.suites)

    @property
    def cv_threshold_pct(self) -> float:
        """The CV above which a metric is marked noisy."""
        return self.config.bench.cv_threshold_pct

    @property
    def default_repetitions(self) -> int:
        """Repetitions per launch when a plan does not say."""
        return self.config.bench.repetitions

    # --- host ---------------------------------------------------------------------------

    def capabilities(self) -> CapabilityReport:
        """This host's report, computed once (the KVM probe is cached on disk too)."""
        with self._report_lock:
            if self._report is None:
                self._report = self.inspect(Path("/"))
            return self._report

    def inspect(self, sysroot: Path, cpuid_file: Path | None = None) -> CapabilityReport:
        """A fresh report of this machine or of a replayed sysroot."""
        from sevtui.host.inspect import inspect_host
        from sevtui.host.kvm import ProbeGuest
        from sevtui.image.minimal import built_minimal

        image = built_minimal(self.config.paths.images)
        guest = ProbeGuest(image.kernel, image.initrd) if image else None
        return inspect_host(self.config, sysroot, cpuid_file, guest)

    # --- catalog ------------------------------------------------------------------------

    @property
    def catalog(self) -> Catalog:
        """Built-in and config.toml benchmarks and suites."""
        if self._catalog is None:
            from sevtui.bench.catalog import catalog_from_config

            self._catalog = catalog_from_config(self.config)
        return self._catalog

    # --- VMs ----------------------------------------------------------------------------

    def vm_argv(self, name: str) -> ArgvPlan:
        """The QEMU argv VM NAME would start with here."""
        from sevtui.vm.details import argv_plan

        return argv_plan(self.config, self._vm(name), self.capabilities())

    def config_problems(self) -> list[str]:
        """Problems with every VM's confidential parameters, for the QEMU configured here."""
        from sevtui.vm.sevparams import config_problems

        return config_problems(self.config)

    def start_vm(
        self, name: str, force: bool = False, wait_ready: bool = True, progress: Progress = _quiet
    ) -> StartResult:
        """Start VM NAME detached from sevtui (and wait for its guest)."""
        from sevtui.vm.lifecycle import start

        return start(self.config, self._vm(name), self.capabilities(), force, wait_ready, progress)

    def stop_vm(
        self,
        name: str,
        kill: bool = False,
        grace_s: float = 10.0,
        progress: Progress = _quiet,
        force: bool = False,
    ) -> StopResult:
        """Stop (or kill) VM NAME, escalating from ACPI powerdown to SIGKILL.

        A VM a benchmark run holds is refused unless FORCE (the run would fail).
        """
        from sevtui.vm import lease
        from sevtui.vm.lifecycle import stop

        vm = self._vm(name)
        if not force:
            lease.refuse_held(vm.paths.root, name)
        return stop(vm, kill=kill, grace_s=grace_s, progress=progress)

    def vm_user(self, name: str) -> str | None:
        """The benchmark run holding VM NAME, in words; None when none does."""
        from sevtui.vm import lease

        return lease.holder(self._vm(name).paths.root)

    def vm_list(self) -> list[VmRow]:
        """Configured VMs and every other QEMU, sampled once (`vm list`)."""
        from sevtui.vm.inventory import inventory

        return inventory(self.config)

    def console(self, name: str) -> None:
        """Attach this terminal to the running guest's console until Ctrl-]."""
        from sevtui.vm import console
        from sevtui.vm.lifecycle import status

        vm = self._vm(name)
        current = status(vm)
        if current.state != "running":
            raise UsageError(f"VM {name!r} is not running: {current.state}")
        console.attach(vm.paths)

    def vms(self) -> list[VmRow]:
        """One refresh of the VM listing for a live view (CPU % since the last refresh)."""
        if self._watcher is None:
            from sevtui.vm.inventory import InventoryWatcher

            self._watcher = InventoryWatcher(self.config)
        return self._watcher.poll()

    def exec_vm(self, name: str, command: str, timeout: float) -> tuple[str, int]:
        """Run COMMAND in the running guest: over ssh for cloud guests, else the console."""
        from sevtui.vm import remote
        from sevtui.vm.lifecycle import status

        vm = self._vm(name)
        current = status(vm)
        if current.state != "running":
            raise UsageError(f"VM {name!r} is not running: {current.state}")
        return remote.runner(vm)(command, timeout)

    def probe_vm(
        self,
        name: str,
        method: Method = "scan",
        secret: str | None = None,
        everything: bool = False,
    ) -> tuple[ProbeResult, str]:
        """Plant a canary, scan QEMU's guest RAM, store the verdict; (result, VM kind)."""
        from sevtui.probe.exposure import probe_vm

        return probe_vm(self.config, name, method, secret, everything)

    def attest_report(
        self, report: Path, vcek: Path | None, chain: Path | None, product: str | None
    ) -> Attestation:
        """Verify a report file to AMD's root (`attest verify`)."""
        from sevtui.attest.service import verify_file
        from sevtui.attest.vms import key_sources

        return verify_file(report, key_sources(self.config, vcek, chain, product))

    def td_quote(self, path: Path) -> bytes | None:
        """The bytes of PATH when it holds a TD quote (binary or hex), else None."""
        from sevtui.attest.service import read_file
        from sevtui.attest.tdquote import as_td_quote

        return as_td_quote(read_file(path, "report or quote"))

    def verify_td_quote(
        self, quote: bytes, collateral: Path | None, at: str | None, nonce: str | None
    ) -> TdQuoteResult:
        """Verify a TD quote to Intel's root against COLLATERAL (default: fetched from
        attest.pcs_url, then cached), as of AT (ISO 8601)."""
        from sevtui.attest.tdcollateral import verify_td

        cache = self.config.attest.vcek_cache or self.config.paths.data_dir / "attest"
        return verify_td(quote, collateral, (at, nonce), (cache, self.config.attest.pcs_url))

    def attest_vm(
        self, name: str, vcek: Path | None = None, product: str | None = None
    ) -> Attestation:
        """Fetch a fresh report from running VM NAME, verify it, compare it, store it."""
        from sevtui.attest.vms import as_row, attest_running, key_sources

        keys = key_sources(self.config, vcek, None, product)
        result = attest_running(self._vm(name), keys)
        with self.store() as store:
            store.record_attestation(as_row(result.to_json()))
        return result

    def last_attestations(self) -> dict[str, AttestationRow]:
        """The newest stored attestation of each VM (from `attest` or a run)."""
        with self.store() as store:
            return store.last_attestations()

    def last_probes(self) -> dict[str, tuple[ProbeResult, float]]:
        """The newest stored probe of each running VM that still applies, with when it ran."""
        from sevtui.probe.verdicts import current_verdicts

        with self.store() as store:
            return current_verdicts(store, self.config)

    def vm_details(self, name: str) -> VmDetails:
        """argv, state dir, stderr and console tails, and how it was started."""
        from sevtui.vm.details import vm_details

        vm = self._vm(name)
        return vm_details(vm, self.last_attestations().get(name))

    # --- runs ---------------------------------------------------------------------------

    def plan_run(
        self,
        targets: list[str],
        suite: str,
        repetitions: int | None = None,
        label: str | None = None,
        warmup: int | None = None,
        design: Design | None = None,
    ) -> RunPlan:
        """A run plan with the config's warm-up, cap, timeout and design."""
        from sevtui.bench.planning import Asked, make_plan

        asked = Asked(repetitions, label, warmup)
        return make_plan(self.config, targets, suite, asked, design or Design())

    def ensure_images(self, names: list[str], progress: Progress = _quiet) -> list[str]:
        """Build (or reuse) the images the VMs NAMES need; one line per step with its time."""
        from sevtui.vm.media import ensure_images

        vms = [self._vm(name) for name in names if name != "host"]
        return ensure_images(self.config, vms, progress)

    def prepare_cloud(self, name: str, base: Path, grow: str, force: bool = False) -> CloudVm:
        """VM NAME's disk from cloud image BASE (grown by GROW), its ssh key and seed."""
        from sevtui.vm.cloud import prepare_cloud

        return prepare_cloud(self.config, self._vm(name), base, grow, force)

    def start_blockers(self) -> dict[str, str]:
        """Configured VMs that are stopped and cannot start here, with the reason."""
        from sevtui.vm.media import start_blockers

        return start_blockers(self.config, self.capabilities())

    def plan_notes(self, plan: RunPlan) -> PlanNotes:
        """What PLAN will do, for both front ends to say before it starts."""
        from sevtui.bench.planning import plan_notes

        with self.store() as store:
            return plan_notes(self.config, store, self.catalog.suite(plan.suite), plan)

    def plan_sweep(self, vms: list[str], vary: list[str], base: RunPlan) -> RunPlan:
        """BASE (suite, repetitions, label...) over every variant of VMS (combinations of
        the --vary values)."""
        from sevtui.bench.planning import sweep_plan

        return sweep_plan(self.config, self.capabilities(), vms, vary, base)

    def resume_plan(self, ref: str) -> RunPlan:
        """The plan of one stored run, to measure only what it is missing."""
        from sevtui.bench.runner import plan_from_run

        with self.store() as store:
            store.mark_orphans()
            run_ids = store.resolve(ref)
            if len(run_ids) != 1:
                raise UsageError(f"{ref!r} names {len(run_ids)} runs", "resume one run id")
            return plan_from_run(store, run_ids[0], self.config)

    def run(
        self, plan: RunPlan, emit: Callable[[Event], None], stop: threading.Event | None = None
    ) -> RunOutcome:
        """Run PLAN (blocking); STOP or Ctrl-C interrupts it, keeping what was measured."""
        from sevtui.bench.runner import Control, run_suite

        with self.store() as store:
            return run_suite(
                self.config, store, self.catalog, plan, self.capabilities(), Control(emit, stop)
            )

    # --- results ------------------------------------------------------------------------

    @contextmanager
    def store(self) -> Iterator[Store]:
        """The results database, opened in the calling thread and closed after use."""
        from sevtui.store.db import Store

        store = Store(self.config.paths.db)
        try:
            yield store
        finally:
            store.close()

    def runs(self) -> list[RunInfo]:
        """Stored runs, newest first (runs whose process died are marked interrupted)."""
        with self.store() as store:
            store.mark_orphans()
            return store.runs()

    def report(self, ref: str) -> RunReport:
        """The runs REF names (an id, or every run with that label), with statistics."""
        from sevtui.bench.runreport import run_report

        with self.store() as store:
            return run_report(store, store.resolve(ref))

    def run_details(self, run_id: int) -> list[str]:
        """One run's details as text lines (the app's run details, `show --details`)."""
        return self.report(str(run_id)).detail_lines()

    def repetition_output(self, run_id: int, target: str, benchmark: str, rep: int) -> str:
        """What one repetition printed, as stored."""
        with self.store() as store:
            store.run(run_id)
            return store.output(run_id, target, benchmark, rep)

    def resolve(self, ref: str) -> list[int]:
        """Run ids for REF: an id, or every run with that label."""
        with self.store() as store:
            return store.resolve(ref)

    def profiles(self, run_ids: list[int]) -> list[str]:
        """Profiles measured in these runs."""
        from sevtui.bench.results import profiles

        with self.store() as store:
            return profiles(store.series(run_ids))

    def hosts(self, run_ids: list[int]) -> dict[str, list[int]]:
        """These runs grouped by the host that measured them (provenance `host`)."""
        from sevtui.bench.runreport import runs_by_host

        with self.store() as store:
            return runs_by_host(store, run_ids)

    def fleet(
        self, request: FleetRequest, wheel: Path | None, progress: Callable[[HostProgress], None]
    ) -> list[HostOutcome]:
        """Run the fleet playbook (caps or run) on every host of the request's inventory."""
        from sevtui.fleet.run import run_fleet

        return run_fleet(self.config.paths.data_dir / "fleet", request, wheel, progress)

    def fleet_hosts(self) -> list[dict[str, str]]:
        """The hosts of the last (or running) fleet command: capability row and progress."""
        from sevtui.fleet.run import read_status

        return read_status(self.config.paths.data_dir / "fleet")

    def merge(self, paths: list[Path]) -> list[MergedFile]:
        """Copy the runs of other sevtui databases into this one (all or nothing)."""
        from sevtui.store.merge import merge

        with self.store() as store:
            return merge(store, paths)

    def comparisons(self, run_ids: list[int], base: str, others: list[str]) -> ComparisonSet:
        """BASE compared with each of OTHERS over these runs."""
        with self._comparer() as comparer:
            return comparer.comparisons(run_ids, base, others)

    def comparisons_by_host(
        self, run_ids: list[int], base: str, others: list[str]
    ) -> dict[str, ComparisonSet]:
        """BASE against OTHERS on each host's runs (runs merged from several hosts)."""
        with self._comparer() as comparer:
            return comparer.by_host(run_ids, base, others)

    def compare_along(
        self, run_ids: list[int], base: str, other: str, parameter: str
    ) -> list[AlongPoint]:
        """A sweep's overhead of OTHER over BASE at each value of PARAMETER."""
        with self._comparer() as comparer:
            return comparer.along(run_ids, base, other, parameter)

    @contextmanager
    def _comparer(self) -> Iterator[Comparer]:
        """Comparisons over the database with the config's threshold and headlines."""
        from sevtui.bench.runreport import Comparer

        with self.store() as store:
            yield Comparer(store, self.config.bench.cv_threshold_pct, self.catalog.headlines())

    def plot(self, run_ids: list[int], base: str, others: list[str], request: PlotRequest) -> Path:
        """Draw the figure REQUEST asks for from these runs; the path it was written to."""
        from sevtui.report.assemble import figure

        with self._comparer() as comparer:
            return figure(comparer, run_ids, base, others, request)

    def write_report(
        self, run_ids: list[int], base: str, others: list[str], folder: Path, replace: bool = False
    ) -> list[Path]:
        """The report of these runs (BASE against each of OTHERS) written under FOLDER."""
        from sevtui.report.assemble import assemble
        from sevtui.report.folder import write_report

        comparisons = self.comparisons(run_ids, base, others)
        with self.store() as store:
            report = assemble(store, run_ids, base, others, comparisons)
        return write_report(report, folder, replace)

    def metric_values(
        self, run_ids: list[int], benchmark: str, metric: str
    ) -> dict[str, list[float]]:
        """Every repetition's value of one metric, per profile (for the repetitions chart)."""
        from sevtui.bench.runreport import metric_values

        with self.store() as store:
            return metric_values(store, run_ids, benchmark, metric)[0]

    def import_files(self, request: ImportRequest) -> dict[str, tuple[int, int]]:
        """Parse every file, then store one run per profile: profile -> (run id, values)."""
        from sevtui.bench.importer import import_files

        with self.store() as store:
            runs = import_files(store, request, self.catalog)
            return {name: (run_id, len(store.samples([run_id]))) for name, run_id in runs.items()}
