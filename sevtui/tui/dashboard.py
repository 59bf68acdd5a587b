"""The dashboard's three live panes: Host, VMs and Benchmarks."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, ProgressBar, Static

from sevtui.base.names import visible
from sevtui.base.sizes import format_duration, format_size
from sevtui.bench import events
from sevtui.tui.quiet_cells import repaint_row, write_cell_quietly

if TYPE_CHECKING:
    from sevtui.host.caps import CapabilityReport
    from sevtui.probe.exposure import ProbeResult
    from sevtui.store.rows import AttestationRow, RunInfo
    from sevtui.vm.inventory import VmRow

VM_COLUMNS = (
    "name",
    "state",
    "PID",
    "RSS",
    "CPU%",
    "SEV",
    "memory probe",
    "attested",
    "mode",
    "uptime",
)
"""Most wanted first: at 80 columns name to the probe verdict fit; the rest scroll."""
NAME_WIDTH = 18
ATTEST_STYLE = {"verified": "green", "failed": "bold red", "inconclusive": "dim"}
STATE_STYLE = {
    "running": "green",
    "starting": "yellow",
    "stopped": "dim",
    "shutoff": "dim",
    "crashed": "bold red",
}


class HostPane(Static):
    """One-glance verdict, key CPUID facts, accel and which modes can launch."""

    def on_mount(self) -> None:
        self.border_title = "Host"
        self.update("reading host capabilities...")

    def show(self, report: CapabilityReport) -> None:
        """Render a capability report."""
        text = Text()
        text.append(report.verdict + "\n", style="bold green" if report.ready else "bold yellow")
        text.append(f"{report.model}\n", style="dim")
        if report.leaf is not None:
            leaf = report.leaf
            facts = f"C-bit {leaf.cbitpos}  ASIDs {leaf.max_encrypted_guests}"
            text.append(f"{facts}  VMPLs {leaf.vmpl_count}\n")
        else:
            text.append("no CPUID 0x8000001F\n", style="dim")
        accel = (
            "KVM"
            if report.accel.usable
            else "TCG (KVM: not verified)"
            if not report.accel.verified
            else "TCG (KVM not usable)"
        )
        text.append(f"accel: {accel}\n")
        for kind, verdict in report.profiles.items():
            mark, style = ("✔", "green") if verdict.launchable else ("✘", "red")
            text.append(f"{mark} {kind}  ", style=style)
        text.append("\n[c] checks", style="dim")
        self.update(text)


class BenchPane(Vertical):
    """The current run: progress with ETA, what runs where, last values, errors."""

    def compose(self) -> ComposeResult:
        yield Static(Text("no benchmark running  [b] start one"), id="bench-status")
        yield Static("", id="bench-last")

    def on_mount(self) -> None:
        self.border_title = "Benchmarks"
        self.finished = 0
        self.started = time.monotonic()
        self.errors: list[str] = []
        self.concurrent = False
        self.elsewhere = False

    def _bar(self) -> ProgressBar:
        """The progress bar, mounted by the first run: an idle bar would still tick every second."""
        for bar in self.query(ProgressBar):
            return bar
        bar = ProgressBar(total=1, show_eta=False, id="bench-progress")
        self.mount(bar, before="#bench-last")
        return bar

    def apply(self, event: events.Event) -> None:
        """Fold one runner event into the pane."""
        status = self.query_one("#bench-status", Static)
        bar = self._bar()
        last = self.query_one("#bench-last", Static)
        if isinstance(event, events.RunStarted):
            self.finished, self.errors, self.started = 0, [], time.monotonic()
            self.concurrent = event.concurrent
            bar.update(total=max(event.planned, 1), progress=0)
            how = " (concurrent: all at once)" if event.concurrent else ""
            status.update(f"run {event.run_id} {event.label!r} on {', '.join(event.targets)}{how}")
        elif isinstance(event, events.BenchmarkStarted):
            bar.update(total=max(event.planned, self.finished, 1))
            what = "warm-up" if event.warmup else f"rep {event.repetition}"
            where = "every target at once" if self.concurrent else event.target
            status.update(
                f"running {event.benchmark} on {where} ({what})"
                f"{self._eta(event.planned, event.left_s)}"
            )
        elif isinstance(event, events.RepetitionDone):
            self.finished += 1
            bar.update(total=max(event.planned, self.finished), progress=self.finished)
            shown = "\n".join(
                f"  {metric[:34]}: {value:.4g}" for metric, value in list(event.values.items())[:4]
            )
            last.update(f"{event.target} {event.benchmark} rep {event.repetition}\n{shown}")
        elif isinstance(event, (events.BenchmarkError, events.BenchmarkUnavailable)):
            if isinstance(event, events.BenchmarkError):
                self.finished += event.repetition > 0
                bar.update(progress=self.finished)
                self.errors.append(f"{event.target} {event.benchmark}: {event.status}")
            else:
                self.errors.append(f"{event.target} {event.benchmark}: unavailable")
            last.update(Text(visible("\n".join(self.errors[-4:]), lines=True), style="red"))
        elif isinstance(event, events.RunFinished):
            bar.update(total=max(self.finished, 1), progress=self.finished)
            why = f" ({event.reason})" if event.reason else ""
            status.update(
                f"run {event.run_id} {event.status}{why}: {event.measured} repetitions stored "
                f"in {event.seconds:.0f} s  (r: results)"
            )

    def show_elsewhere(self, runs: list[RunInfo]) -> None:
        """Runs another sevtui is measuring (none: the pane says so once they end)."""
        status = self.query_one("#bench-status", Static)
        if runs:
            status.update(
                Text(
                    visible(
                        "; ".join(
                            f"run {run.id} {run.label!r} running in another sevtui on "
                            f"{', '.join(run.targets)}: {run.measurements} values so far"
                            for run in runs
                        )
                    )
                    + "  (r: results)"
                )
            )
            self.elsewhere = True
        elif self.elsewhere:
            status.update(Text("no benchmark running  [b] start one"))
            self.elsewhere = False

    def _eta(self, planned: int, estimate: float | None = None) -> str:
        """Time left: the runner's estimate (each benchmark at its own pace), else the
        mean pace so far; ProgressBar's own restarts whenever the total changes."""
        left = estimate
        if left is None:
            left = events.seconds_left(time.monotonic() - self.started, self.finished, planned)
        return "" if not left else f"  ~{format_duration(left)} left"


PROBE_STYLE = {"exposed": "bold red", "not readable": "bold green", "inconclusive": "yellow"}


class VmTable(DataTable[Text | str]):
    """Configured and external QEMU VMs, updated in place once a second."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        for column in VM_COLUMNS:
            self.add_column(column, key=column)

    def row_name(self) -> str | None:
        """The VM name of the highlighted row."""
        if self.row_count == 0:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        return str(key.value) if key.value is not None else None

    def show(
        self,
        rows: list[VmRow],
        probes: dict[str, tuple[ProbeResult, float]],
        attestations: dict[str, AttestationRow],
    ) -> None:
        """Add, update or remove rows by key; the cursor stays where it was."""
        wanted: dict[str, tuple[Text | str, ...]] = {}
        for row in rows:
            key = f"ext:{row.status.pid}" if row.status.external else row.status.name
            attested = Text("-")
            attestation = attestations.get(row.status.name)
            if attestation is not None and not row.status.external:
                label = "n/a" if attestation.status == "inconclusive" else attestation.status
                when = time.strftime("%H:%M", time.localtime(attestation.created))
                attested = Text(f"{label} {when}", style=ATTEST_STYLE.get(attestation.status, ""))
            cells = self._cells(row, probes.get(row.status.name))
            wanted[key] = (*cells[:7], attested, *cells[7:])
        with self.app.batch_update():
            for key in [str(k.value) for k in self.rows if str(k.value) not in wanted]:
                self.remove_row(key)
            for key, cells in wanted.items():
                if key in self.rows:
                    self._update_row(key, tuple(self.get_row(key)), cells)
                else:
                    self.add_row(*cells, key=key)

    def _update_row(
        self, key: str, before: tuple[Text | str, ...], cells: tuple[Text | str, ...]
    ) -> None:
        """Write the changed cells of one row and repaint only that row.

        DataTable.update_cell repaints the whole table; with the uptime and CPU cells changing
        every second that was most of the app's idle CPU. A cell that grows wider still goes
        through update_cell so the column widens.
        """
        changed = False
        for column, old, new in zip(VM_COLUMNS, before, cells, strict=True):
            if old == new:
                continue
            if len(str(new)) > len(str(old)):
                self.update_cell(key, column, new, update_width=True)
            else:
                write_cell_quietly(self, key, column, new)
                changed = True
        if changed:
            repaint_row(self, key)

    def _cells(
        self, row: VmRow, verdict: tuple[ProbeResult, float] | None
    ) -> tuple[Text | str, ...]:
        st, smp = row.status, row.sample
        name = f"{st.name} (ext)" if st.external and not st.variant_of else st.name
        if len(name) > NAME_WIDTH:
            name = name[: NAME_WIDTH - 1] + "…"
        state = Text(st.state, style=STATE_STYLE.get(st.state, ""))
        sev: str
        if isinstance(row.sev, dict):
            sev = "on" if row.sev.get("enabled") else "off"
        else:
            sev = (
                "-"
                if not row.sev
                else (("sweep" if st.variant_of else "ext") if st.external else "n/a")
            )
        probe = Text("-")
        if verdict is not None and not st.external:
            result, when = verdict
            label = result.outcome
            probe = Text(
                f"{label} {time.strftime('%H:%M', time.localtime(when))}",
                style=PROBE_STYLE[result.outcome],
            )
        return (
            name,
            state,
            str(st.pid) if st.pid else "-",
            format_size(smp.rss_bytes // (1 << 20) << 20) if smp and smp.rss_bytes else "-",
            f"{smp.cpu_percent:.1f}" if smp else "-",
            sev,
            probe,
            st.kind,
            format_duration(smp.uptime_s) if smp else "-",
        )


class VmPane(Vertical):
    """The VMs pane: a placeholder in the first frame, the live table right after it.

    A DataTable costs a tenth of the app's start-up to mount and style; nothing fills it
    before the configuration has loaded anyway.
    """

    def compose(self) -> ComposeResult:
        yield Static("reading VMs...", id="vms-placeholder")

    def on_mount(self) -> None:
        self.border_title = "VMs"

    async def mount_table(self) -> None:
        """Replace the placeholder with the table and focus it."""
        table = VmTable(id="vms")
        await self.mount(table)
        await self.query_one("#vms-placeholder").remove()
        table.focus()


class Dashboard(Vertical):
    """Host and Benchmarks side by side above the VMs pane."""

    def compose(self) -> ComposeResult:
        with Horizontal(id="top"):
            yield HostPane(id="host")
            yield BenchPane(id="bench")
        yield VmPane(id="vms-pane")
