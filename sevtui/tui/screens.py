"""Full-screen views: the capability check tree, a VM's details, the fleet's hosts."""

from __future__ import annotations

import shlex
import textwrap
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static, Tree
from textual.widgets.tree import TreeNode

from sevtui.base.names import visible
from sevtui.tui.messages import DashboardCovered

if TYPE_CHECKING:
    from sevtui.host.caps import CapabilityReport
    from sevtui.tui.sources import Sources
    from sevtui.vm.details import VmDetails

_MARK = {
    "pass": ("✔", "green"),
    "fail": ("✘", "red"),
    "warn": ("!", "yellow"),
    "skip": ("-", "dim"),
}


class CoveringScreen(Screen[None]):
    """A full screen over the dashboard: the VM table stops polling while it is shown."""

    def on_mount(self) -> None:
        self.app.post_message(DashboardCovered(+1))

    def on_unmount(self) -> None:
        self.app.post_message(DashboardCovered(-1))


class ChecksScreen(CoveringScreen):
    """The full check tree with evidence and fix hints."""

    BINDINGS = [Binding("escape,q,c", "app.pop_screen", "back")]

    def __init__(self, report: CapabilityReport) -> None:
        super().__init__()
        self.report = report

    def compose(self) -> ComposeResult:
        yield Header()
        tree: Tree[None] = Tree(Text(f"{self.report.verdict}  ({self.report.model})"), id="checks")
        tree.show_root = True
        nodes: dict[str, TreeNode[None]] = {}
        for check in self.report.checks:
            mark, style = _MARK[check.status]
            label = Text.assemble((f"{mark} ", style), (check.title, "bold"))
            parent = nodes.get(check.parent, tree.root) if check.parent else tree.root
            node = parent.add(label, expand=True)
            width = max(40, self.app.size.width - 10 - 4 * self.report.depth(check))
            for line in textwrap.wrap(check.evidence, width) or [""]:
                node.add_leaf(Text(line, style="dim"))
            if check.hint:
                for line in textwrap.wrap(f"fix: {check.hint}", width):
                    node.add_leaf(Text(line, style="yellow"))
            nodes[check.id] = node
        kinds = tree.root.add(Text("VM kinds", style="bold"), expand=True)
        for kind, verdict in self.report.profiles.items():
            mark, style = ("✔", "green") if verdict.launchable else ("✘", "red")
            kinds.add_leaf(Text.assemble((f"{mark} {kind}: ", style), verdict.reason))
        tree.root.expand()
        yield tree
        yield Footer(compact=True)


class RunDetailScreen(CoveringScreen):
    """One run's details: host, targets, design, every repetition (as `results show
    --details` prints them)."""

    BINDINGS = [Binding("escape,q,i", "app.pop_screen", "back")]

    def __init__(self, run_id: int, lines: list[str]) -> None:
        super().__init__()
        self.run_id = run_id
        self.lines = lines

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="run-details"):
            yield Static(Text(visible("\n".join(self.lines), lines=True)), id="run-details-text")
        yield Footer(compact=True)


class VmDetailScreen(CoveringScreen):
    """argv, state dir, stderr and console tails, provenance."""

    BINDINGS = [Binding("escape,q", "app.pop_screen", "back")]

    def __init__(self, details: VmDetails, probe_line: str) -> None:
        super().__init__()
        self.details = details
        self.probe_line = probe_line

    def compose(self) -> ComposeResult:
        d = self.details
        yield Header()
        with VerticalScroll(id="details"):
            yield Static(Text(f"{d.name}", style="bold"))
            yield Static(Text(f"state dir: {d.state_dir}"))
            yield Static(Text(f"memory probe: {self.probe_line}"))
            facts = ", ".join(f"{k}={v}" for k, v in d.provenance.items() if v is not None)
            yield Static(Text(f"started: {facts or 'never'}"))
            yield Static(Text("argv", style="bold"))
            yield Static(Text(shlex.join(d.argv) if d.argv else "(not started yet)"))
            yield Static(Text("QEMU stderr (tail)", style="bold"))
            yield Static(Text(d.stderr_tail or "(empty)"))
            yield Static(Text("console (tail)", style="bold"))
            yield Static(Text(d.console_tail or "(empty)"))
        yield Footer(compact=True)


FLEET_COLUMNS = ("host", "cpu", "runs", "status", "progress")
FLEET_KINDS = ("sev", "sev-es", "sev-snp", "tdx")
"""The `runs` column: the confidential kinds a host can launch, AMD's and Intel's alike."""
FLEET_REFRESH_S = 1.0


class FleetScreen(CoveringScreen):
    """The hosts of the last (or running) `sevtui fleet` command: capabilities, progress."""

    BINDINGS = [Binding("escape,q,f", "app.pop_screen", "back")]

    def __init__(self, sources: Sources) -> None:
        super().__init__()
        self.sources = sources

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="fleet-note")
        table: DataTable[Text] = DataTable(id="fleet", cursor_type="row", zebra_stripes=True)
        table.add_columns(*FLEET_COLUMNS)
        yield table
        yield Footer(compact=True)

    def on_mount(self) -> None:
        super().on_mount()
        self.refresh_hosts()
        self.set_interval(FLEET_REFRESH_S, self.refresh_hosts)

    def refresh_hosts(self) -> None:
        """Read the fleet status in a thread; the table follows it."""
        self.run_worker(self._load, thread=True, exclusive=True, group="fleet")

    def _load(self) -> None:
        hosts = self.sources.fleet_hosts()
        self.app.call_from_thread(self._show, hosts)

    def _show(self, hosts: list[dict[str, str]]) -> None:
        """One row per status entry; text from hosts is shown as text, never as markup,
        and two entries of one name are two rows."""
        table: DataTable[Text] = self.query_one("#fleet", DataTable)
        table.clear()
        for host in hosts:
            kinds = [kind for kind in FLEET_KINDS if host.get(kind) == "yes"]
            cells = {**host, "runs": " ".join(kinds) or "none"}
            table.add_row(*(Text(visible(cells.get(column, ""))) for column in FLEET_COLUMNS))
        note = self.query_one("#fleet-note", Static)
        if not hosts:
            note.update(
                "No fleet yet: sevtui fleet caps --inventory FILE (or fleet run) fills this "
                "screen, and it follows a fleet run live."
            )
        else:
            why = [f"{h.get('host', '?')}: {h['why_not']}" for h in hosts if h.get("why_not")]
            text = "not available on " + "; ".join(why) if why else ""
            note.update(Text(visible(text)))
