"""Messages from thread workers to the UI: small, immutable, posted, never touching widgets."""

from __future__ import annotations

from textual.message import Message

from sevtui.bench.runner import Event
from sevtui.host.caps import CapabilityReport
from sevtui.probe import ProbeResult
from sevtui.vm.inventory import VmRow


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


class ActionDone(Message):
    """A VM action finished; `text` is what to tell the user."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


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

    def __init__(self, run_id: int | None, text: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.text = text
