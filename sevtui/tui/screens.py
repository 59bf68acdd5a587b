"""Full-screen views: the capability check tree and a VM's details."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, Tree
from textual.widgets.tree import TreeNode

from sevtui.tui.messages import DashboardCovered

if TYPE_CHECKING:
    from sevtui.host.caps import CapabilityReport
    from sevtui.session import VmDetails

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
            node.add_leaf(Text(check.evidence, style="dim"))
            if check.hint:
                node.add_leaf(Text(f"fix: {check.hint}", style="yellow"))
            nodes[check.id] = node
        kinds = tree.root.add(Text("VM kinds", style="bold"), expand=True)
        for kind, verdict in self.report.profiles.items():
            mark, style = ("✔", "green") if verdict.launchable else ("✘", "red")
            kinds.add_leaf(Text.assemble((f"{mark} {kind}: ", style), verdict.reason))
        tree.root.expand()
        yield tree
        yield Footer()


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
        yield Footer()
