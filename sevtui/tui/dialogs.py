"""Modal dialogs: confirm, start a benchmark, export a comparison, run a guest command."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Log, Select, SelectionList, Static


class ConfirmScreen(ModalScreen[bool]):
    """Yes / no before something that cannot be undone."""

    BINDINGS = [
        Binding("y", "answer(True)", "yes"),
        Binding("n,escape", "answer(False)", "no"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question)
            with Horizontal(classes="buttons"):
                yield Button("Yes [y]", variant="error", id="yes")
                yield Button("No [n]", id="no")

    def action_answer(self, answer: bool) -> None:
        """Close with the answer."""
        self.dismiss(answer)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Buttons answer too (mouse)."""
        self.dismiss(event.button.id == "yes")


@dataclass(frozen=True)
class BenchRequest:
    """What the benchmark dialog asks for."""

    targets: list[str]
    suite: str
    repetitions: int
    label: str


class BenchDialog(ModalScreen[BenchRequest | None]):
    """Pick targets, suite, repetitions and a label; Escape or Ctrl+C cancels."""

    AUTO_FOCUS = "#targets"
    BINDINGS = [
        Binding("escape,ctrl+c", "cancel", "cancel", priority=True),
        Binding("ctrl+s", "submit", "run"),
    ]

    def __init__(self, targets: list[str], suites: list[str], repetitions: int) -> None:
        super().__init__()
        self.targets = targets
        self.suites = suites
        self.repetitions = repetitions

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog compact"):
            yield Label("Run benchmarks: space picks targets, Ctrl+S runs, Esc cancels")
            with VerticalScroll(id="form"):
                yield SelectionList[str](
                    *[(name, name, False) for name in self.targets], id="targets"
                )
                yield Select(
                    [(name, name) for name in self.suites],
                    value="quick" if "quick" in self.suites else self.suites[0],
                    allow_blank=False,
                    id="suite",
                )
                yield Input(str(self.repetitions), placeholder="repetitions", id="repetitions")
                yield Input(placeholder="label (optional)", id="label")
            yield Static("", id="error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Run", variant="primary", id="run")
                yield Button("Cancel", id="cancel")

    def action_cancel(self) -> None:
        """Close without running."""
        self.dismiss(None)

    def action_submit(self) -> None:
        """Validate and close with the request, or show what is wrong."""
        error = self.query_one("#error", Static)
        targets = list(self.query_one("#targets", SelectionList).selected)
        text = self.query_one("#repetitions", Input).value.strip()
        if not targets:
            error.update("pick at least one target (space toggles)")
            return
        if not text.isdigit() or not 1 <= int(text) <= 1000:
            error.update(f"repetitions must be a whole number from 1 to 1000, not {text!r}")
            return
        suite = str(self.query_one("#suite", Select).value)
        label = self.query_one("#label", Input).value.strip()
        self.dismiss(BenchRequest(targets, suite, int(text), label))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Mouse path."""
        if event.button.id == "run":
            self.action_submit()
        else:
            self.action_cancel()


class ExportDialog(ModalScreen[tuple[Path, str] | None]):
    """Where to write the shown comparison, and as what."""

    AUTO_FOCUS = "#path"
    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, default: Path) -> None:
        super().__init__()
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Export the comparison  (Enter writes, Esc cancels)")
            yield Select(
                [("Markdown", "markdown"), ("CSV", "csv"), ("JSON", "json")],
                value="markdown",
                allow_blank=False,
                id="format",
            )
            yield Input(str(self.default), id="path")
            yield Static("", id="error", classes="error")

    def action_cancel(self) -> None:
        """Close without writing."""
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Check the path, then close with it."""
        path = Path(event.value.strip()).expanduser()
        error = self.query_one("#error", Static)
        if not event.value.strip():
            error.update("give a file path")
            return
        if path.is_dir():
            error.update(f"{path} is a folder: give a file name")
            return
        if not path.parent.is_dir():
            error.update(f"folder {path.parent} does not exist")
            return
        self.dismiss((path, str(self.query_one("#format", Select).value)))


class ExecDialog(ModalScreen[None]):
    """Run commands in a guest: the console's recent lines, then each command and its output,
    in a scrollable log; the dialog stays open until Esc."""

    AUTO_FOCUS = "#command"
    BINDINGS = [Binding("escape", "cancel", "close")]

    def __init__(self, name: str, log: str, run: Callable[[str, str], object]) -> None:
        super().__init__()
        self.vm_name = name
        self.console_text = log
        self.run = run

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(f"{self.vm_name}: run a command in the guest (Enter runs, Esc closes)")
            yield Log(id="console-log", highlight=False)
            yield Input(placeholder="command, e.g. uname -a", id="command")

    def on_mount(self) -> None:
        log = self.query_one("#console-log", Log)
        lines = console_lines(self.console_text)
        log.write_lines(lines or ["(the console is quiet)"])

    def show_result(self, command: str, output: str, status: int) -> None:
        """Append one command's output (and its exit status) to the log."""
        log = self.query_one("#console-log", Log)
        log.write_lines([f"$ {command}", *output.rstrip("\n").splitlines(), f"(exit {status})"])

    def action_cancel(self) -> None:
        """Close."""
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Run the command; its output lands in the log."""
        command = event.value.strip()
        if command:
            event.input.value = ""
            self.query_one("#console-log", Log).write_line(f"$ {command}  (running...)")
            self.run(self.vm_name, command)


_MARKER_LINE = re.compile(r"^SV[BQ]_[0-9a-f]+$")
_END_MARKER = re.compile(r"SVE_[0-9a-f]+:\d+")


def console_lines(text: str) -> list[str]:
    """The console's lines without sevtui's own framing: the commands it sent (their echo
    may wrap over several lines, up to the closing `SVE_ NONCE` / `SVQ_ NONCE` words) and
    the begin and end markers around each command's output."""
    lines: list[str] = []
    in_echo = False
    for line in text.splitlines():
        if "printf '%s%s" in line:
            in_echo = True
        if in_echo:
            in_echo = not re.search(r"SV[EQ]_ [0-9a-f]+", line)
            continue
        if _MARKER_LINE.match(line.strip()):
            continue
        shown = _END_MARKER.sub("", line)
        if shown.strip():
            lines.append(shown)
    return lines
