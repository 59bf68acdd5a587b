"""Messages from thread workers to the UI: small, immutable, posted, never touching widgets."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from sevtui.bench.events import Event
    from sevtui.host.caps import CapabilityReport
    from sevtui.probe.exposure import ProbeResult
    from sevtui.store.rows import AttestationRow, RunInfo
    from sevtui.tui.sources import Sources
    from sevtui.vm.inventory import VmRow


class SourcesReady(Message):
    """The config is loaded and the data sources are ready."""

    def __init__(self, sources: Sources) -> None:
        super().__init__()
        self.sources = sources


class CapsReady(Message):
    """The host capability report is in."""

    def __init__(self, report: CapabilityReport) -> None:
        super().__init__()
        self.report = report


class VmsUpdated(Message):
    """A fresh VM table."""

    def __init__(self, rows: list[VmRow]) -> None:
        super().__init__()
        self.rows = rows


class RunsElsewhere(Message):
    """Runs stored as running by another sevtui (the CLI, a sweep, a fleet host)."""

    def __init__(self, runs: list[RunInfo]) -> None:
        super().__init__()
        self.runs = runs


class ActionDone(Message):
    """A VM action finished; `text` is what to tell the user."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class VerdictsLoaded(Message):
    """Stored probe verdicts (with when each ran) and attestations per VM."""

    def __init__(
        self,
        probes: dict[str, tuple[ProbeResult, float]],
        attestations: dict[str, AttestationRow],
    ) -> None:
        super().__init__()
        self.probes = probes
        self.attestations = attestations


class ProbeDone(Message):
    """A memory probe finished."""

    def __init__(self, name: str, result: ProbeResult) -> None:
        super().__init__()
        self.name = name
        self.result = result


class BenchProgress(Message):
    """One runner event, in order (each repetition counts toward the progress bar)."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class BenchFinished(Message):
    """The benchmark worker ended (done, interrupted or failed)."""

    def __init__(self, run_id: int | None, text: str, status: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.text = text
        self.status = status


class DashboardCovered(Message):
    """A full screen opened (+1) or closed (-1) over the dashboard."""

    def __init__(self, change: int) -> None:
        super().__init__()
        self.change = change


class ExecDone(Message):
    """A command ran in a guest: its output and exit status."""

    def __init__(self, name: str, command: str, output: str, status: int) -> None:
        super().__init__()
        self.name = name
        self.command = command
        self.output = output
        self.status = status
