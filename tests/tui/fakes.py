"""Deterministic data sources for TUI tests: recorded machines, the seed's results."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from sevtui.base.errors import SevtuiError
from sevtui.base.kinds import VmKind
from sevtui.bench import events
from sevtui.bench.along import AlongPoint, AlongQuery, compare_along
from sevtui.bench.catalog import build_catalog
from sevtui.bench.events import RunPlan
from sevtui.bench.importer import parse_file
from sevtui.bench.planning import default_label
from sevtui.bench.results import ComparisonSet, build_comparisons
from sevtui.bench.runner import RunOutcome
from sevtui.host.caps import CapabilityReport, assess
from sevtui.host.facts import gather
from sevtui.host.kvm import KvmVerdict
from sevtui.host.qemu import QemuInfo
from sevtui.probe.exposure import ProbeResult
from sevtui.store.rows import AttestationRow, RunInfo, RunRow, Sample, group_samples
from sevtui.vm.details import VmDetails
from sevtui.vm.inventory import VmRow
from sevtui.vm.lifecycle import StartResult, StopResult, VmState, VmStatus
from sevtui.vm.monitor import ProcessSample
from tests.sysroots import DATA, seed_host

ROOT = Path("/tmp/sevtui-fake-host")
MILAN_MEASUREMENT = (
    "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d"
    "3e1a0dc39b2c60bd95b9c480cd81841f"
)
STARTED = 1795940000.0


def sweep_measurements() -> list[Sample]:
    """The seed's samples as a sweep over vcpus=1,2: at 2 vCPUs every value is 10 % higher
    (times) for both profiles, and sev-snp keeps its seed overhead."""
    swept: list[Sample] = []
    for sample in seed_measurements():
        for vcpus, scale in (("1", 1.0), ("2", 1.1)):
            swept.append(
                replace(sample, target=f"{sample.target}@vcpus={vcpus}", value=sample.value * scale)
            )
    return swept


def seed_measurements() -> list[Sample]:
    """The seed's sev and nosev outputs as stored samples (one repetition each)."""
    catalog = build_catalog()
    measured: list[Sample] = []
    for profile, folder in (("sev-snp", "sev"), ("nosev", "nosev")):
        for path in sorted((DATA / "seed" / folder).iterdir()):
            for bench, category, _source, values in parse_file(path, "auto", catalog):
                measured += [
                    Sample(
                        1,
                        profile,
                        v.benchmark or bench,
                        category,
                        v.metric,
                        v.unit,
                        v.direction,
                        v.repetition,
                        v.value,
                    )
                    for v in values
                ]
    return measured


def fleet_rows() -> list[dict[str, str]]:
    """Three hosts of a fleet run in progress: one working, one that went away, and an
    Intel TDX host beside them."""
    return [
        {
            "host": "milan-a",
            "cpu": "AMD EPYC 7713P 64-Core Processor",
            "sev": "yes",
            "sev-es": "yes",
            "sev-snp": "yes",
            "status": "working",
            "progress": "bench  lz4-compress-quick  repetition 2",
        },
        {
            "host": "genoa-b",
            "cpu": "AMD EPYC 9654 96-Core Processor",
            "sev": "yes",
            "sev-es": "yes",
            "sev-snp": "no",
            "status": "unreachable",
            "progress": "unreachable  Failed to connect to the host via ssh",
            "why_not": "SEV-SNP: kvm_amd sev_snp=0",
        },
        {
            "host": "spr-c",
            "cpu": "Intel(R) Xeon(R) Platinum 8480C",
            "tdx": "yes",
            "status": "done",
            "progress": "done",
        },
    ]


def fake_host_root() -> Path:
    """The seed host's sysroot at ROOT (its path shows in snapshots), built once and
    shared: each process builds into its own folder and renames it into place, so
    parallel test processes never see, or remove, a half-built tree."""
    marker = ROOT / ".complete"
    if marker.exists():
        return ROOT
    scratch = Path(tempfile.mkdtemp(prefix="sevtui-fake-host.", dir=ROOT.parent))
    seed_host().build(scratch)
    (scratch / ".complete").touch()
    if ROOT.exists() and not marker.exists():
        stale = ROOT.with_name(f"{ROOT.name}.stale.{os.getpid()}")
        with contextlib.suppress(OSError):
            os.rename(ROOT, stale)
            shutil.rmtree(stale, ignore_errors=True)
    try:
        os.rename(scratch, ROOT)
    except OSError:
        shutil.rmtree(scratch, ignore_errors=True)
    return ROOT


class FakeSources:
    """Everything the app needs, without QEMU, psutil or a database."""

    host_name = "epyc-7713p"
    data_dir = "/var/lib/sevtui"
    vm_names = ["demo", "nosev", "sev-snp"]
    suites = ["quick", "seed"]
    cv_threshold_pct = 3.5
    default_repetitions = 3

    def __init__(self) -> None:
        self.running = {"demo"}
        self.uptime_s = 65.0
        self.crashed: set[str] = set()
        self.fail_vms = False
        self.bench_events: list[events.Event] = []
        self.leased: dict[str, str] = {}
        self.measured = seed_measurements()
        self._host_built = False
        self.fleet = fleet_rows()
        self.label = "seed"
        self.elsewhere: list[RunInfo] = []
        """Runs another sevtui measures (status running)."""

    def capabilities(self) -> CapabilityReport:
        if not self._host_built:
            fake_host_root()
            self._host_built = True
        qemu = QemuInfo(
            "/usr/bin/qemu-system-x86_64",
            (9, 2, 0),
            "QEMU emulator version 9.2.0",
            frozenset({"sev-guest", "sev-snp-guest"}),
        )
        return assess(
            gather(ROOT), qemu, KvmVerdict(True, "KVM booted the minimal guest kernel", 1.2)
        )

    def vms(self) -> list[VmRow]:
        if self.fail_vms:
            raise SevtuiError("database busy: r.db stayed locked for 5 s", "retry in a moment")
        rows = []
        for index, name in enumerate(self.vm_names):
            kind: VmKind = "sev-snp" if name == "sev-snp" else "nosev"
            up = name in self.running
            state: VmState = "crashed" if name in self.crashed else "running" if up else "stopped"
            status = VmStatus(
                name,
                kind,
                state,
                pid=4242 + index if up else None,
                accel="kvm",
                vcpus=16,
                memory=16 << 30,
            )
            sample = ProcessSample(4242 + index, 300 << 20, 1.5, self.uptime_s, 4) if up else None
            rows.append(
                VmRow(status, sample, "running" if up else "", {"enabled": False} if up else "")
            )
        external = VmStatus(
            "hand-made",
            "sev",
            "running",
            pid=999,
            external=True,
            accel="kvm",
            vcpus=2,
            memory=1 << 30,
        )
        rows.append(VmRow(external, ProcessSample(999, 100 << 20, 0.5, 3600.0, 2), "", "external"))
        return rows

    def start_vm(self, name: str) -> StartResult:
        self.running.add(name)
        return StartResult(name, 4242, "kvm", "KVM works", 0.2, 1.0)

    def stop_vm(self, name: str, *, kill: bool = False, force: bool = False) -> StopResult:
        if name in self.leased and not force:
            raise SevtuiError(f"{name} is in use by {self.leased[name]}")
        if name not in self.running:
            raise SevtuiError(f"VM {name!r} is not running: stopped")
        self.running.discard(name)
        return StopResult(name, 4242, "SIGKILL" if kill else "ACPI powerdown", 0.1)

    def vm_user(self, name: str) -> str | None:
        return self.leased.get(name)

    def probe_vm(self, name: str) -> tuple[ProbeResult, str]:
        result = ProbeResult("scan", True, 2, 512 << 20, 0.05)
        result.locations.append({"mapping": "7f00-7fff [anon]", "offset": 4096})
        return result, "nosev"

    def last_probes(self) -> dict[str, tuple[ProbeResult, float]]:
        return {"nosev": (ProbeResult("scan", False, 0, 1 << 30, 0.2), STARTED)}

    def last_attestations(self) -> dict[str, AttestationRow]:
        no_interface = "no SEV-SNP or TDX attestation interface in this guest"
        return {
            "nosev": AttestationRow("nosev", "inconclusive", None, [no_interface], {}, STARTED),
            "sev-snp": AttestationRow("sev-snp", "verified", MILAN_MEASUREMENT, [], {}, STARTED),
        }

    def exec_vm(self, name: str, command: str, timeout: float) -> tuple[str, int]:
        return f"ran {command}\n", 0

    def vm_details(self, name: str) -> VmDetails:
        return VmDetails(
            name,
            ["qemu-system-x86_64", "-name", name],
            f"/run/sevtui/vms/{name}",
            "",
            "SEVTUI-READY",
            {"pid": 4242, "accel": "kvm"},
        )

    def fleet_hosts(self) -> list[dict[str, str]]:
        return self.fleet

    def runs(self) -> list[RunInfo]:
        return [
            *self.elsewhere,
            RunInfo(2, self.label, "imported", None, ["nosev"], STARTED, STARTED, 278),
            RunInfo(1, self.label, "imported", None, ["sev-snp"], STARTED, STARTED, 278),
        ]

    def profiles(self, run_ids: list[int]) -> list[str]:
        return sorted({m.target for m in self.measured})

    def comparisons(self, run_ids: list[int], base: str, others: list[str]) -> ComparisonSet:
        headlines = build_catalog().headlines()
        series = group_samples(self.measured)
        return build_comparisons(series, base, others, self.cv_threshold_pct, headlines)

    def comparisons_by_host(
        self, run_ids: list[int], base: str, others: list[str]
    ) -> dict[str, ComparisonSet]:
        """milan-a has the seed's numbers; on genoa-b the other profiles are 10 % slower."""
        headlines = build_catalog().headlines()
        slower = [
            replace(sample, value=sample.value * 1.1) if sample.target in others else sample
            for sample in self.measured
        ]
        return {
            host: build_comparisons(
                group_samples(samples), base, others, self.cv_threshold_pct, headlines
            )
            for host, samples in (("genoa-b", slower), ("milan-a", self.measured))
        }

    def compare_along(
        self, run_ids: list[int], base: str, other: str, parameter: str
    ) -> list[AlongPoint]:
        query = AlongQuery(base, other, parameter)
        headlines = build_catalog().headlines()
        series = group_samples(self.measured)
        return compare_along(series, query, self.cv_threshold_pct, headlines)

    def metric_values(
        self, run_ids: list[int], benchmark: str, metric: str
    ) -> dict[str, list[float]]:
        values: dict[str, list[float]] = {}
        for m in self.measured:
            if m.benchmark == benchmark and m.metric == metric:
                values.setdefault(m.target, []).append(m.value)
        return values

    def plan_run(
        self,
        targets: list[str],
        suite: str,
        repetitions: int | None = None,
        label: str | None = None,
        warmup: int | None = None,
        design: events.Design | None = None,
    ) -> RunPlan:
        launches = design.launches if design and design.launches else 1
        return RunPlan(
            targets,
            suite,
            repetitions or self.default_repetitions,
            label or default_label(suite),
            warmup=warmup or 0,
            launches=launches,
        )

    def run_details(self, run_id: int) -> list[str]:
        return [f"run {run_id} details", "  host: epyc-7713p", "  nosev: kind imported"]

    def write_report(
        self, run_ids: list[int], base: str, others: list[str], folder: Path, replace: bool = False
    ) -> list[Path]:
        """The real report writer over the fake's comparison and one imported run."""
        from sevtui.report import document
        from sevtui.report.folder import write_report
        from sevtui.report.system import system_table

        comparisons = self.comparisons(run_ids, base, others)
        run = RunRow(
            1, self.label, "imported", None, None, [base, *others], 0.0, 0.0, "", {}, "", {}
        )
        method = document.methodology([run], comparisons)
        report = document.Report(
            "fake report", [run], system_table([run], [base, *others]), method, comparisons, []
        )
        return write_report(report, folder, replace)

    def start_blockers(self) -> dict[str, str]:
        return {"sev-snp": "this host cannot run sev-snp guests: KVM hangs here"}

    def plan_notes(self, plan: RunPlan) -> events.PlanNotes:
        restarts = tuple(name for name in plan.targets if name in self.running)
        return events.PlanNotes(
            (f"{len(plan.targets)} targets, {plan.repetitions} repetitions",), restarts
        )

    def run(
        self,
        plan: RunPlan,
        emit: Callable[[events.Event], None],
        stop: threading.Event | None = None,
    ) -> RunOutcome:
        reason = "demo/redis-quick repetition 1: timeout: killed after 60 s"
        script: list[events.Event] = [
            events.RunStarted(7, plan.label, tuple(plan.targets), ("mbw-quick",), 2),
            events.BenchmarkStarted(plan.targets[0], "mbw-quick", 1, planned=2),
            events.RepetitionDone(plan.targets[0], "mbw-quick", 1, 1.0, {"MEMCPY": 5000.0}, 2),
            events.BenchmarkStarted(plan.targets[0], "redis-quick", 1, planned=2),
            events.BenchmarkError(
                plan.targets[0], "redis-quick", 1, "timeout", "killed after 60 s"
            ),
            events.RunFinished(7, "failed", 2.0, 1, reason),
        ]
        for event in script:
            self.bench_events.append(event)
            emit(event)
        return RunOutcome(7, "failed", reason, 1)
