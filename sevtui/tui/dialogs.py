"""Modal dialogs: confirm, start a benchmark, export a comparison, run a guest command."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import (
    Button,
    Checkbox,
    Input,
    Label,
    RichLog,
    Select,
    SelectionList,
    Static,
)

from sevtui.base.names import visible


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
    """What the benchmark dialog asks for (also the choice it offers next time)."""

    targets: list[str]
    suite: str
    repetitions: int
    label: str
    warmup: int | None = None
    launches: int | None = None
    concurrent: bool = False


class BenchDialog(ModalScreen[BenchRequest | None]):
    """Pick targets, suite, repetitions, warm-up, launches and a label; VMs that cannot
    start here are marked with the reason; Escape or Ctrl+C cancels."""

    AUTO_FOCUS = "#targets"
    BINDINGS = [
        Binding("escape,ctrl+c", "cancel", "cancel", priority=True),
        Binding("ctrl+s", "submit", "run"),
    ]

    def __init__(
        self,
        targets: list[str],
        suites: list[str],
        last: BenchRequest,
        blocked: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.targets = targets
        self.suites = suites
        self.last = last
        self.blocked = blocked or {}

    def _prompt(self, name: str, chosen: bool) -> str:
        mark = "[x]" if chosen else "[ ]"
        why = self.blocked.get(name)
        return f"{mark} {name}" + (f"  (cannot start here: {why})" if why else "")

    def compose(self) -> ComposeResult:
        last = self.last
        with Vertical(classes="dialog compact"):
            yield Label("Run benchmarks: space picks targets, Ctrl+S runs, Esc cancels")
            with VerticalScroll(id="form"):
                yield SelectionList[str](
                    *[
                        (self._prompt(name, name in last.targets), name, name in last.targets)
                        for name in self.targets
                    ],
                    id="targets",
                )
                yield Label("suite")
                yield Select(
                    [(name, name) for name in self.suites],
                    value=last.suite if last.suite in self.suites else self.suites[0],
                    allow_blank=False,
                    id="suite",
                )
                yield Label("repetitions per launch (fixed before the run)")
                yield Input(str(last.repetitions), id="repetitions")
                yield Label("launches (each VM booted anew; empty: the suite's default)")
                yield Input(str(last.launches or ""), id="launches")
                yield Label("warm-up runs (empty: bench.warmup)")
                yield Input("" if last.warmup is None else str(last.warmup), id="warmup")
                yield Checkbox("concurrent: every target at once", last.concurrent, id="concurrent")
                yield Label("label (optional)")
                yield Input(last.label, placeholder="SUITE-DATE", id="label")
            yield Static("", id="error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Run", variant="primary", id="run")
                yield Button("Cancel", id="cancel")

    def on_selection_list_selection_toggled(
        self, event: SelectionList.SelectionToggled[str]
    ) -> None:
        """The mark in front of a target says [x] or [ ], not only its colour."""
        chosen = event.selection.value in event.selection_list.selected
        event.selection_list.replace_option_prompt_at_index(
            event.selection_index, self._prompt(event.selection.value, chosen)
        )

    def action_cancel(self) -> None:
        """Close without running."""
        self.dismiss(None)

    def action_submit(self) -> None:
        """Validate and close with the request, or show what is wrong."""
        error = self.query_one("#error", Static)
        targets = list(self.query_one("#targets", SelectionList).selected)
        if not targets:
            error.update("pick at least one target (space toggles)")
            return
        numbers: dict[str, int | None] = {}
        for field_id, low, high, required in (
            ("repetitions", 1, 1000, True),
            ("launches", 1, 100, False),
            ("warmup", 0, 10, False),
        ):
            text = self.query_one(f"#{field_id}", Input).value.strip()
            if not text and not required:
                numbers[field_id] = None
                continue
            if not text.isdigit() or not low <= int(text) <= high:
                error.update(
                    f"{field_id} must be a whole number from {low} to {high}, not {text!r}"
                )
                return
            numbers[field_id] = int(text)
        self.dismiss(
            BenchRequest(
                targets,
                str(self.query_one("#suite", Select).value),
                numbers["repetitions"] or 1,
                self.query_one("#label", Input).value.strip(),
                numbers["warmup"],
                numbers["launches"],
                self.query_one("#concurrent", Checkbox).value,
            )
        )

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Mouse path."""
        if event.button.id == "run":
            self.action_submit()
        else:
            self.action_cancel()


SUFFIXES = {
    "markdown": ".md",
    "csv": ".csv",
    "json": ".json",
    "pdf": ".pdf",
    "svg": ".svg",
    "png": ".png",
    "report": "",
}
"""Export format -> the path's suffix (a report is a folder)."""
EXPORT_FORMATS = [
    ("Markdown", "markdown"),
    ("CSV", "csv"),
    ("JSON", "json"),
    ("figure (PDF)", "pdf"),
    ("figure (SVG)", "svg"),
    ("figure (PNG)", "png"),
    ("report (folder)", "report"),
]


class ExportDialog(ModalScreen[tuple[Path, str] | None]):
    """Where to write the shown comparison, and as what: the file's suffix follows the
    format, and an existing file is only replaced after a second Enter."""

    AUTO_FOCUS = "#path"
    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, default: Path) -> None:
        super().__init__()
        self.default = default
        self.confirmed: Path | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Export the comparison  (Enter writes, Esc cancels)")
            yield Select(
                EXPORT_FORMATS,
                value="markdown",
                allow_blank=False,
                id="format",
            )
            yield Input(str(self.default), id="path")
            yield Static("", id="error", classes="error")

    def on_select_changed(self, event: Select.Changed) -> None:
        """The path's suffix follows the chosen format."""
        field = self.query_one("#path", Input)
        path = Path(field.value.strip() or str(self.default))
        if path.suffix in SUFFIXES.values() or not path.suffix:
            field.value = str(path.with_suffix(SUFFIXES.get(str(event.value), ".md")))
        self.confirmed = None
        self.query_one("#error", Static).update("")

    def action_cancel(self) -> None:
        """Close without writing."""
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Check the path, then close with it."""
        path = Path(event.value.strip()).expanduser()
        fmt = str(self.query_one("#format", Select).value)
        error = self.query_one("#error", Static)
        problem = _export_problem(path, fmt, self.default) if event.value.strip() else "give a path"
        if problem:
            error.update(problem)
            return
        existing = path / "report.md" if fmt == "report" else path
        if existing.exists() and self.confirmed != path:
            self.confirmed = path
            what = "holds a report" if fmt == "report" else "exists"
            error.update(f"{path} {what}: Enter again replaces it")
            return
        self.dismiss((path, fmt))


def _export_problem(path: Path, fmt: str, default: Path) -> str:
    """Why PATH cannot take an export as FMT (empty: it can)."""
    if fmt == "report":
        if path.exists() and not path.is_dir():
            return f"{path} is a file: a report is a folder, give a folder name"
    elif path.is_dir():
        return f"{path} is a folder: give a file name"
    if not path.parent.is_dir() and path.parent != default.parent:
        return f"folder {path.parent} does not exist"
    return ""


class KeysScreen(ModalScreen[None]):
    """The keys of the screen underneath, in words; ?, Esc or q closes."""

    BINDINGS = [Binding("escape,question_mark,q", "close", "close")]

    def __init__(self, title: str, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.keys = keys

    def compose(self) -> ComposeResult:
        width = max((len(key) for key, _ in self.keys), default=0)
        lines = "\n".join(f"{key:>{width}}  {what}" for key, what in self.keys)
        with Vertical(classes="dialog"):
            yield Label(f"Keys: {self.title_text}  (? or Esc closes)")
            yield Static(Text(lines or "(no keys)"), id="keys")

    def action_close(self) -> None:
        """Close."""
        self.dismiss(None)


class ExecDialog(ModalScreen[None]):
    """Run commands in a guest: the console's recent lines, then each command and its output,
    in a scrollable, wrapping log; Up and Down walk the commands run before; the dialog
    stays open until Esc."""

    AUTO_FOCUS = "#command"
    BINDINGS = [
        Binding("escape", "cancel", "close"),
        Binding("up", "history(-1)", "previous command", show=False),
        Binding("down", "history(1)", "next command", show=False),
    ]

    def __init__(self, name: str, log: str, run: Callable[[str, str], object]) -> None:
        super().__init__()
        self.vm_name = name
        self.console_text = log
        self.run = run
        self.history: list[str] = []
        self.position = 0

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(
                f"{self.vm_name}: run a command in the guest (Enter runs, Up/Down recall, "
                "Esc closes)"
            )
            yield RichLog(id="console-log", wrap=True, markup=False, highlight=False)
            yield Input(placeholder="command, e.g. uname -a", id="command")

    def _write(self, lines: list[str]) -> None:
        log = self.query_one("#console-log", RichLog)
        for line in lines:
            log.write(Text(visible(line)))

    def on_mount(self) -> None:
        self._write(console_lines(self.console_text) or ["(the console is quiet)"])

    def show_result(self, command: str, output: str, status: int) -> None:
        """Append one command's output (and its exit status) to the log; the command
        itself was written when it started."""
        del command
        self._write([*output.rstrip("\n").splitlines(), f"(exit {status})"])

    def action_cancel(self) -> None:
        """Close."""
        self.dismiss(None)

    def action_history(self, step: int) -> None:
        """Put an earlier (or later) command back into the input."""
        if not self.history:
            return
        self.position = min(max(self.position + step, 0), len(self.history))
        field = self.query_one("#command", Input)
        field.value = self.history[self.position] if self.position < len(self.history) else ""
        field.cursor_position = len(field.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Run the command; its output lands in the log."""
        command = event.value.strip()
        if command:
            event.input.value = ""
            self.history.append(command)
            self.position = len(self.history)
            self._write([f"$ {command}"])
            self.run(self.vm_name, command)


_MARKER_LINE = re.compile(r"^SV[BQC]_[0-9a-f]+$")
_END_MARKER = re.compile(r"SVE_[0-9a-f]+:\d+")


def console_lines(text: str) -> list[str]:
    """The console's lines without sevtui's own framing: the commands it sent (their echo
    may wrap over several lines, up to the closing `SVE_`, `SVQ_` or `SVC_ NONCE` words) and
    the begin and end markers around each command's output."""
    lines: list[str] = []
    in_echo = False
    for line in text.splitlines():
        if "printf '%s%s" in line:
            in_echo = True
        if in_echo:
            in_echo = not re.search(r"SV[EQC]_ [0-9a-f]+", line)
            continue
        if _MARKER_LINE.match(line.strip()):
            continue
        shown = _END_MARKER.sub("", line)
        if shown.strip():
            lines.append(shown)
    return lines
