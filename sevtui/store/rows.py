"""The rows the results database stores and returns, as typed values."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from sevtui.base.values import Value


@dataclass(frozen=True)
class RunInfo:
    """A row of `results list`."""

    id: int
    label: str
    status: str
    suite: str | None
    targets: list[str]
    started: float
    finished: float | None
    measurements: int

    def to_json(self) -> dict[str, Any]:
        """JSON row."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class RunRow:
    """One stored run with its targets (`results show`)."""

    id: int
    label: str
    status: str
    suite: str | None
    repetitions: int | None
    targets: list[str]
    started: float
    finished: float | None
    notes: str
    provenance: dict[str, Any]
    reason: str
    target_info: dict[str, dict[str, Any]]
    uuid: str = ""
    """The run's identity across databases (`results merge` keeps it)."""

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)


@dataclass(frozen=True)
class ResultRow:
    """One repetition's outcome (without its raw output)."""

    id: int
    target: str
    benchmark: str
    category: str
    repetition: int
    status: str
    seconds: float | None
    message: str
    launch: int = 1
    position: int | None = None
    """Where the target stood in its round's order (from 0; None: imported, or a setup)."""
    qemu_pid: int | None = None
    pilot: bool = False

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)


@dataclass(frozen=True)
class ProbeRow:
    """One stored memory-exposure probe (never the canary itself)."""

    vm: str
    kind: str
    method: str
    found: bool
    hits: int
    bytes_scanned: int
    seconds: float
    throughput_gbps: float
    created: float = 0.0
    reason: str = ""
    """Why a miss proves nothing (empty for a verdict that stands)."""
    qemu_pid: int | None = None
    qemu_started: float | None = None
    """The QEMU process the probe looked at: a verdict holds for that process only."""


@dataclass(frozen=True)
class AttestationRow:
    """One stored attestation: its status, measurement, reasons and the whole document."""

    vm: str
    status: str
    measurement: str | None
    reasons: list[str]
    document: dict[str, Any]
    created: float
    run_id: int | None = None


@dataclass(frozen=True)
class RepetitionRecord:
    """What one repetition (or a benchmark's setup, repetition 0) produced."""

    target: str
    benchmark: str
    category: str
    repetition: int
    status: str
    values: list[Value] = field(default_factory=list)
    seconds: float | None = None
    output: str = ""
    message: str = ""
    conditions: dict[str, Any] = field(default_factory=dict)
    busy: bool = False
    launch: int = 1
    """Which launch of the target (QEMU process, host batch) the repetition ran in."""
    position: int | None = None
    """Where the target stood in its round's (random) order, from 0."""
    qemu: tuple[int, float] | None = None
    """The QEMU process (PID, start time) that ran it; None for the host."""
    pilot: bool = False
    """A pilot repetition of the adaptive mode: kept, but never analysed."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One repetition's value of one metric (iterations inside one program run averaged)."""

    run_id: int
    target: str
    benchmark: str
    category: str
    metric: str
    unit: str
    direction: str
    repetition: int
    value: float
    launch: int = 1


@dataclass(frozen=True)
class Series:
    """One metric of one benchmark on one profile: (run id, repetition) -> value, and the
    launch each repetition ran in (1 when the run had one)."""

    target: str
    benchmark: str
    category: str
    metric: str
    unit: str
    direction: str
    values: dict[tuple[int, int], float]
    launches: dict[tuple[int, int], int] = field(default_factory=dict)


def group_samples(samples: list[Sample]) -> list[Series]:
    """Samples as Series, in first-seen order (several values of a repetition averaged)."""
    grouped: dict[tuple[str, str, str, str], list[Sample]] = {}
    for sample in samples:
        key = (sample.target, sample.benchmark, sample.metric, sample.unit)
        grouped.setdefault(key, []).append(sample)
    series = []
    for (target, benchmark, metric, unit), group in grouped.items():
        values: dict[tuple[int, int], list[float]] = {}
        launches: dict[tuple[int, int], int] = {}
        for sample in group:
            values.setdefault((sample.run_id, sample.repetition), []).append(sample.value)
            launches[(sample.run_id, sample.repetition)] = sample.launch
        first = group[0]
        series.append(
            Series(
                target,
                benchmark,
                first.category,
                metric,
                unit,
                first.direction,
                {key: math.fsum(v) / len(v) for key, v in values.items()},
                launches,
            )
        )
    return series


def per_repetition(packed: str) -> tuple[dict[tuple[int, int], float], dict[tuple[int, int], int]]:
    """'KEY LAUNCH VALUE ...' (KEY = run << 32 | repetition) -> (run, rep) -> value
    (several values of a repetition averaged), and (run, rep) -> launch."""
    parts = packed.split(" ")
    keys = list(map(int, parts[0::3]))
    launch_of = list(map(int, parts[1::3]))
    numbers = list(map(float, parts[2::3]))
    sums: dict[int, list[float]] = {}
    launches: dict[tuple[int, int], int] = {}
    for key, launch, number in zip(keys, launch_of, numbers, strict=True):
        sums.setdefault(key, []).append(number)
        launches[(key >> 32, key & 0xFFFFFFFF)] = launch
    values = {
        (key >> 32, key & 0xFFFFFFFF): v[0] if len(v) == 1 else math.fsum(v) / len(v)
        for key, v in sums.items()
    }
    return values, launches


@dataclass(frozen=True)
class StoredFacts:
    """What the database holds about where compared work ran (bench.facts judges it):
    each run target's info, busy repetitions per (target, benchmark), and how each
    measured (not imported) run shared the host."""

    targets: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    busy: dict[tuple[str, str], int] = field(default_factory=dict)
    run_modes: frozenset[str] = frozenset()
