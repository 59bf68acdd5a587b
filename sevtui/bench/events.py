"""What a benchmark run is asked to do and what it reports: plain dataclasses, cheap to import."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RunStarted:
    """A run began (or resumed); `planned` repetitions are to be measured."""

    run_id: int
    label: str
    targets: tuple[str, ...]
    benchmarks: tuple[str, ...]
    planned: int
    concurrent: bool = False


@dataclass(frozen=True)
class BenchmarkStarted:
    """One repetition (or a warm-up) of a benchmark began on a target."""

    target: str
    benchmark: str
    repetition: int
    warmup: bool = False
    planned: int = 0
    left_s: float | None = None
    """The runner's estimate of the time left (each benchmark's own pace)."""


@dataclass(frozen=True)
class RepetitionDone:
    """A repetition was measured and stored."""

    target: str
    benchmark: str
    repetition: int
    seconds: float
    values: dict[str, float]
    planned: int = 0
    left_s: float | None = None


@dataclass(frozen=True)
class BenchmarkUnavailable:
    """The target cannot run this benchmark (not a failure of the run)."""

    target: str
    benchmark: str
    reason: str


@dataclass(frozen=True)
class BenchmarkError:
    """A repetition failed or timed out; it is recorded with its output tail."""

    target: str
    benchmark: str
    repetition: int
    status: str
    message: str


@dataclass(frozen=True)
class RunFinished:
    """The run ended: done, interrupted or failed (with the reason when not done)."""

    run_id: int
    status: str
    seconds: float
    measured: int
    reason: str = ""


Event = (
    RunStarted
    | BenchmarkStarted
    | RepetitionDone
    | BenchmarkUnavailable
    | BenchmarkError
    | RunFinished
)


def seconds_left(elapsed: float, finished: int, planned: int) -> float | None:
    """Time left at the mean pace so far (warm-ups included), None before any repetition:
    the fallback when the runner has no estimate of its own (the events' `left_s`)."""
    if not finished:
        return None
    return elapsed / finished * max(planned - finished, 0)


@dataclass(frozen=True)
class Design:
    """How a run replicates and orders its work (options of `bench run` and `sweep`);
    None: the config's value, or the suite's default."""

    concurrent: bool = False
    launches: int | None = None
    order: str = "random"
    seed: int | None = None
    precision_pct: float | None = None


@dataclass
class RunPlan:
    """What to run."""

    targets: list[str]
    suite: str
    repetitions: int
    label: str
    warmup: int = 1
    max_repetitions: int = 10
    cv_threshold_pct: float = 3.5
    timeout_s: float = 1800.0
    resume_run: int | None = None
    concurrent: bool = False
    """Each repetition runs on all targets at once (noisy neighbours), not one by one."""
    launches: int = 1
    """Each VM is booted this many times (the host measured in as many batches); the
    repetitions of a launch are nested in it."""
    order: str = "random"
    """random: each round's target order is drawn from `seed`; fixed: as given."""
    seed: int | None = None
    precision_pct: float | None = None
    """Adaptive mode: `repetitions` pilot runs per launch fix how many more to measure so
    the 95 % CI half-width is below this percentage of the mean (capped at
    max_repetitions); the pilot runs are kept but not analysed."""

    def design(self) -> dict[str, object]:
        """The experiment design as stored with the run (provenance `design`)."""
        return {
            "launches": self.launches,
            "repetitions": self.repetitions,
            "order": self.order,
            "seed": self.seed,
            "warmup": self.warmup,
            "stopping": (
                {"mode": "fixed"}
                if self.precision_pct is None
                else {
                    "mode": "precision",
                    "precision_pct": self.precision_pct,
                    "pilot": self.repetitions,
                    "cap": self.max_repetitions,
                }
            ),
        }


@dataclass(frozen=True)
class PlanNotes:
    """What a run will do, said before it starts: its shape, its estimate, and the VMs
    it will restart (a boot benchmark, or several launches)."""

    lines: tuple[str, ...]
    restarts: tuple[str, ...] = ()
