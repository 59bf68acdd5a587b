"""The sevtui app: live dashboard, keyboard-driven VMs and benchmarks, results browser."""

from __future__ import annotations

import gc
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header
from textual.worker import Worker, WorkerState, get_current_worker

from sevtui.base.errors import SevtuiError
from sevtui.bench.events import Event, RunFinished, RunPlan
from sevtui.tui.dashboard import BenchPane, Dashboard, HostPane, VmPane, VmTable
from sevtui.tui.dialogs import BenchDialog, BenchRequest, ConfirmScreen, ExecDialog
from sevtui.tui.messages import (
    ActionDone,
    BenchFinished,
    BenchProgress,
    CapsReady,
    DashboardCovered,
    ExecDone,
    ProbeDone,
    RunsElsewhere,
    SourcesReady,
    VerdictsLoaded,
    VmsUpdated,
)
from sevtui.tui.screens import ChecksScreen, FleetScreen, VmDetailScreen
from sevtui.tui.sources import EXEC_TIMEOUT_S

if TYPE_CHECKING:
    from sevtui.host.caps import CapabilityReport
    from sevtui.probe.exposure import ProbeResult
    from sevtui.store.rows import AttestationRow
    from sevtui.tui.sources import Sources

REFRESH_S = 1.0
PROBES_EVERY = 5
"""Stored probe verdicts are re-read every PROBES_EVERY VM refreshes (another sevtui may
have probed)."""


DASHBOARD_ACTIONS = frozenset(
    {"start_vm", "stop_vm", "kill_vm", "exec_vm", "probe_vm", "bench", "stop_bench", "fleet"}
)
"""Keys that act on the dashboard's selection or run: hidden over other screens."""

WORK_TITLES = {
    "bench": "the benchmark run failed",
    "bench-dialog": "cannot offer a benchmark run",
    "caps": "reading the host's capabilities failed",
    "compare": "the comparison failed",
    "config": "loading the configuration failed",
    "details": "reading the VM's details failed",
    "exec": "the guest command failed",
    "export": "the export failed",
    "fleet": "reading the fleet status failed",
    "probe": "the memory probe failed",
    "results": "reading the results failed",
    "vm-action": "the VM action failed",
    "vms": "reading the VMs failed",
}
"""What a failing worker was doing, in words, for its notification's title."""


APP_WORDS = (
    (re.compile(r"(see )?`sevtui caps( --json)?`"), "the check tree (key c)"),
    (re.compile(r"`?sevtui vm (console|exec) [^`;]*`?"), "the guest console (key e)"),
    (re.compile(r"`?sevtui results (show|list)[^`;]*`?"), "the results browser (key r)"),
    (re.compile(r"`?sevtui vm stop [^`;]*`?"), "x on the VM"),
)
"""Hints name CLI commands; in the app the key that does the same is named instead."""


def in_app_words(hint: str) -> str:
    """HINT with the CLI commands the app has keys for named by those keys."""
    for pattern, words in APP_WORDS:
        hint = pattern.sub(words, hint)
    return hint


class SevtuiApp(App[None]):
    """Host capabilities, VMs and benchmarks at a glance; every action on a key."""

    CSS_PATH = "app.tcss"
    TITLE = "sevtui"
    BINDINGS = [
        Binding("q", "quit_app", "quit"),
        Binding("r", "results", "results"),
        Binding("question_mark", "help", "keys"),
        Binding("b", "bench", "bench"),
        Binding("s", "start_vm", "start"),
        Binding("x", "stop_vm", "stop"),
        Binding("k", "kill_vm", "kill"),
        Binding("e", "exec_vm", "console"),
        Binding("p", "probe_vm", "probe"),
        Binding("c", "checks", "checks"),
        Binding("f", "fleet", "fleet"),
        Binding("t", "stop_bench", "stop bench", show=False),
        Binding("d", "toggle_dark", "dark or light", show=False),
    ]

    def __init__(
        self,
        sources: Sources | Callable[[], Sources],
        poll: bool = True,
    ) -> None:
        super().__init__()
        self._make_sources = sources if callable(sources) else None
        self._sources = None if callable(sources) else sources
        self.poll = poll
        self.report: CapabilityReport | None = None
        self.bench_stop: threading.Event | None = None
        self.bench_targets: set[str] = set()
        self.last_bench: BenchRequest | None = None
        """The benchmark dialog's last choice, offered again next time."""
        self._wake = threading.Event()
        self._dashboard_shown = threading.Event()
        self._dashboard_shown.set()
        self._covering = 0
        self.probes: dict[str, tuple[ProbeResult, float]] = {}
        self.attestations: dict[str, AttestationRow] = {}
        self.vm_states: dict[str, str] = {}
        """VM name -> its state at the last refresh."""
        """VM name -> its newest memory-probe verdict and when it was taken."""

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Show a notification as plain text, whatever the caller asks.

        Notifications carry key names such as [r], paths and error texts from the core,
        which Textual's markup would swallow or misread.
        """
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    @property
    def sources(self) -> Sources:
        """The data sources (ready once SourcesReady has arrived)."""
        if self._sources is None:
            raise SevtuiError("still loading the configuration", "try again in a moment")
        return self._sources

    def compose(self) -> ComposeResult:
        yield Header()
        yield Dashboard()
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.call_after_refresh(self._after_first_frame)

    async def _after_first_frame(self) -> None:
        """Mount the VM table, then load the config and the core: the first frame waits for none.

        Garbage collection comes back on if start-up paused it (see cli.open_tui); what
        start-up built lives as long as the app, so it is frozen out of collections.
        """
        if not gc.isenabled():
            gc.freeze()
            gc.enable()
        await self.query_one(VmPane).mount_table()
        if self._make_sources is not None:
            self.load_sources(self._make_sources)
        else:
            self.post_message(SourcesReady(self.sources))

    @work(thread=True, exclusive=True, exit_on_error=False, group="config")
    def load_sources(self, make: Callable[[], Sources]) -> None:
        """Load the config and the core after the first frame; a bad config ends the app."""
        try:
            self.post_message(SourcesReady(make()))
        except SevtuiError as exc:
            self.call_from_thread(self.exit, None, exc.exit_code, str(exc))

    def on_sources_ready(self, message: SourcesReady) -> None:
        self._sources = message.sources
        self.sub_title = f"{message.sources.host_name} · data {message.sources.data_dir}"
        self.load_caps()
        if self.poll:
            self.watch_vms()
        else:
            self.refresh_vms()

    # --- workers: blocking work off the UI thread, results come back as messages --------

    @work(thread=True, exclusive=True, exit_on_error=False, group="caps")
    def load_caps(self) -> None:
        """Read the host capability report and the stored probe verdicts."""
        self.post_message(self._stored_verdicts())
        self.post_message(CapsReady(self.sources.capabilities()))

    def _stored_verdicts(self) -> VerdictsLoaded:
        """Read (in a worker thread) the stored probe verdicts and attestations."""
        return VerdictsLoaded(self.sources.last_probes(), self.sources.last_attestations())

    def _runs_elsewhere(self) -> RunsElsewhere:
        """Read (in a worker thread) the runs another sevtui is measuring right now."""
        return RunsElsewhere([run for run in self.sources.runs() if run.status == "running"])

    def refresh_vms(self) -> None:
        """Refresh the VM table now: wake the live loop, or read once when not polling."""
        if self.poll:
            self._wake.set()
        else:
            self.read_vms_once()

    @work(thread=True, exclusive=True, exit_on_error=False, group="vms")
    def read_vms_once(self) -> None:
        """One VM table refresh (and the runs measured elsewhere)."""
        self.post_message(VmsUpdated(self.sources.vms()))
        self.post_message(self._runs_elsewhere())

    @work(thread=True, exclusive=True, exit_on_error=False, group="vms")
    def watch_vms(self) -> None:
        """The live loop in one thread: read, post, sleep a second (or until woken).

        One long-lived worker instead of one per second keeps the idle cost low; the next
        read starts only after the previous one has finished.
        """
        worker = get_current_worker()
        rounds = 0
        while not worker.is_cancelled:
            if self._dashboard_shown.is_set():
                self.post_message(VmsUpdated(self.sources.vms()))
                rounds += 1
                if rounds % PROBES_EVERY == 0:
                    self.post_message(self._stored_verdicts())
                    self.post_message(self._runs_elsewhere())
            self._wake.wait(REFRESH_S)
            self._wake.clear()

    def on_dashboard_covered(self, message: DashboardCovered) -> None:
        """Pause the VM table's polling while a full screen covers the dashboard."""
        self._covering = max(self._covering + message.change, 0)
        if self._covering:
            self._dashboard_shown.clear()
        else:
            self._dashboard_shown.set()
            self.refresh_vms()

    @work(thread=True, exit_on_error=False, group="vm-action")
    def run_vm_action(self, label: str, name: str, kind: str) -> None:
        """Start / stop / kill a VM."""
        self.call_from_thread(self.notify, f"{label} {name}...", timeout=3)
        if kind == "start":
            text = self.sources.start_vm(name).summary()
        else:
            # The user has confirmed when a benchmark run holds the VM.
            text = self.sources.stop_vm(name, kill=kind == "kill", force=True).summary()
        self.post_message(ActionDone(text))

    @work(thread=True, exit_on_error=False, group="probe")
    def run_probe(self, name: str) -> None:
        """Plant a canary and scan the QEMU process."""
        self.post_message(ProbeDone(name, self.sources.probe_vm(name)[0]))

    @work(thread=True, exit_on_error=False, group="exec")
    def run_exec(self, name: str, command: str) -> None:
        """Run a command in the guest; the console dialog shows its output."""
        output, status = self.sources.exec_vm(name, command, EXEC_TIMEOUT_S)
        self.post_message(ExecDone(name, command, output, status))

    def on_exec_done(self, message: ExecDone) -> None:
        if isinstance(self.screen, ExecDialog):
            self.screen.show_result(message.command, message.output, message.status)
        else:
            tail = "\n".join(message.output.strip().splitlines()[-8:])
            self.notify(f"{message.name}$ {message.command} (exit {message.status})\n{tail}")

    @work(thread=True, exclusive=True, exit_on_error=False, group="bench")
    def run_bench(self, plan: RunPlan, stop: threading.Event) -> None:
        """Run a suite; every event becomes a BenchProgress message."""

        def emit(event: Event) -> None:
            self.post_message(BenchProgress(event))

        try:
            outcome = self.sources.run(plan, emit, stop)
            run_id = outcome.run_id
            if outcome.status == "done":
                text = f"run {run_id} done: [r] to read it"
            else:
                text = f"run {run_id} {outcome.status}: {outcome.reason}\n[r] shows what was kept"
            self.post_message(BenchFinished(run_id, text, outcome.status))
        except SevtuiError as exc:
            text = f"{exc.message}\n{in_app_words(exc.hint)}".strip()
            self.post_message(BenchFinished(None, text, "failed"))

    # --- messages ----------------------------------------------------------------------

    def on_caps_ready(self, message: CapsReady) -> None:
        self.report = message.report
        for pane in self.query(HostPane):
            pane.show(message.report)

    def on_verdicts_loaded(self, message: VerdictsLoaded) -> None:
        """Stored probe verdicts of the running QEMUs and attestations (the CLI's too)."""
        self.probes = dict(message.probes)
        self.attestations = dict(message.attestations)

    def on_runs_elsewhere(self, message: RunsElsewhere) -> None:
        """Runs started by the CLI, a sweep or a fleet show in the Benchmarks pane while
        this app runs none of its own."""
        if self.bench_stop is None:
            for pane in self.query(BenchPane):
                pane.show_elsewhere(message.runs)

    def on_vms_updated(self, message: VmsUpdated) -> None:
        self.vm_states = {row.status.name: row.status.state for row in message.rows}
        for table in self.query(VmTable):
            table.show(message.rows, self.probes, self.attestations)

    def on_action_done(self, message: ActionDone) -> None:
        self.notify(message.text, timeout=6)
        self.refresh_vms()

    def on_probe_done(self, message: ProbeDone) -> None:
        self.probes[message.name] = (message.result, time.time())
        r = message.result
        self.notify(
            f"{message.name}: {r.verdict} ({r.hits} hits, {r.bytes_scanned / 2**20:.0f} MiB "
            f"in {r.seconds:.2f} s)",
            severity="error" if r.found else "information",
            timeout=8,
        )
        self.refresh_vms()

    def on_bench_progress(self, message: BenchProgress) -> None:
        self.query_one(BenchPane).apply(message.event)
        if isinstance(message.event, RunFinished):
            self.bench_targets = set()

    def on_bench_finished(self, message: BenchFinished) -> None:
        self.bench_stop = None
        self.bench_targets = set()
        self.notify(
            message.text,
            severity="information" if message.status == "done" else "warning",
            timeout=10,
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """One place where a failing worker becomes a visible message, never a crash."""
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        if event.worker.group == "bench":
            self.bench_stop = None
            self.bench_targets = set()
        if isinstance(error, SevtuiError):
            text = error.message + (f"\nhint: {in_app_words(error.hint)}" if error.hint else "")
        else:
            text = f"{type(error).__name__}: {error}"
        title = WORK_TITLES.get(event.worker.group, f"{event.worker.group} failed")
        self.notify(text, title=title, severity="error", timeout=10)
        if event.worker.group == "vms" and self.poll:
            self.set_timer(REFRESH_S * 3, self.watch_vms)

    # --- actions -----------------------------------------------------------------------

    def _selected_vm(self, configured_only: bool = True) -> str | None:
        tables = self.query(VmTable)
        name = tables.first().row_name() if tables else None
        if name is None:
            self.notify("no VM selected", severity="warning")
            return None
        if configured_only and name.startswith("ext:"):
            self.notify("external QEMU processes are not managed by sevtui", severity="warning")
            return None
        return name

    def action_checks(self) -> None:
        """Open the full check tree."""
        if self.report is None:
            self.notify("the host report is still being read", severity="warning")
            return
        self.push_screen(ChecksScreen(self.report))

    def action_start_vm(self) -> None:
        """Start the selected VM."""
        name = self._selected_vm()
        if name:
            self.run_vm_action("starting", name, "start")

    def action_stop_vm(self) -> None:
        """Stop the selected VM (asks when a benchmark run, here or elsewhere, uses it)."""
        name = self._selected_vm()
        if not name:
            return
        user = self._vm_user(name)
        if user:
            self._confirm(
                f"{name} is in use by {user}. Stop {name} anyway? (that run fails)",
                lambda: self.run_vm_action("stopping", name, "stop"),
            )
        else:
            self.run_vm_action("stopping", name, "stop")

    def action_kill_vm(self) -> None:
        """Kill the selected VM after a confirmation."""
        name = self._selected_vm()
        if name:
            user = self._vm_user(name)
            busy = f" It is in use by {user}." if user else ""
            self._confirm(
                f"Kill {name} (SIGKILL, like pulling the plug)?{busy}",
                lambda: self.run_vm_action("killing", name, "kill"),
            )

    def _vm_user(self, name: str) -> str | None:
        """The benchmark run using VM NAME: this app's, or a lease another sevtui holds."""
        if name in self.bench_targets:
            return "the benchmark running in this app"
        return self.sources.vm_user(name)

    def action_probe_vm(self) -> None:
        """Can the host read the selected VM's memory?"""
        name = self._running_vm()
        if name:
            self.notify(f"probing {name}: planting a canary, scanning QEMU's memory...")
            self.run_probe(name)

    def action_exec_vm(self) -> None:
        """Console log and a command prompt for the selected VM."""
        name = self._running_vm()
        if name:
            self._open_exec(name)

    def _running_vm(self) -> str | None:
        """The selected VM when it is running; otherwise says why nothing happens."""
        name = self._selected_vm()
        if name and self.vm_states.get(name) != "running":
            state = self.vm_states.get(name, "not running")
            self.notify(f"{name} is {state}: start it first ([s])", severity="warning")
            return None
        return name

    @work(thread=True, exit_on_error=False, group="details")
    def _open_exec(self, name: str) -> None:
        details = self.sources.vm_details(name)
        self.call_from_thread(
            self.push_screen, ExecDialog(name, details.console_tail, self.run_exec)
        )

    @on(DataTable.RowSelected, "#vms")
    def _vm_chosen(self) -> None:
        self.action_vm_details()

    def action_vm_details(self) -> None:
        """Details of the selected VM (the probe verdict is read here, on the UI thread)."""
        name = self._selected_vm()
        if not name:
            return
        probe = self.probes.get(name)
        line = "not checked yet  [p] probes"
        if probe is not None:
            result, when = probe
            why = f" ({result.inconclusive})" if result.inconclusive else ""
            line = (
                f"{result.outcome}{why} "
                + time.strftime("at %H:%M:%S", time.localtime(when))
                + f": {result.hits} hits, {result.bytes_scanned / 2**20:.0f} MiB scanned in "
                f"{result.seconds:.2f} s ({result.throughput_gbps:.2f} GB/s), method "
                f"{result.method}"
            )
        self._open_details(name, line)

    @work(thread=True, exit_on_error=False, group="details")
    def _open_details(self, name: str, probe_line: str) -> None:
        details = self.sources.vm_details(name)
        self.call_from_thread(self.push_screen, VmDetailScreen(details, probe_line))

    def _loaded(self) -> bool:
        """True once the configuration has loaded; otherwise says so."""
        if self._sources is None:
            self.notify("still loading the configuration: try again in a moment")
            return False
        return True

    def action_bench(self) -> None:
        """Ask what to run (VMs that cannot start here marked), then run it."""
        if self.bench_stop is not None:
            self.notify("a benchmark is already running ([t] stops it)", severity="warning")
            return
        if not self._loaded():
            return
        self.open_bench_dialog()

    @work(thread=True, exclusive=True, exit_on_error=False, group="bench-dialog")
    def open_bench_dialog(self) -> None:
        """Find the VMs that cannot start (capabilities, images), then show the dialog;
        should that fail, the dialog still opens, without the marks."""
        try:
            blocked = self.sources.start_blockers()
        except SevtuiError as exc:
            self.call_from_thread(
                self.notify, f"cannot tell which VMs can start: {exc.message}", severity="warning"
            )
            blocked = {}
        self.call_from_thread(self._show_bench_dialog, blocked)

    def _show_bench_dialog(self, blocked: dict[str, str]) -> None:
        from sevtui.bench.events import Design

        targets = ["host", *self.sources.vm_names]
        last = self.last_bench or BenchRequest([], "quick", self.sources.default_repetitions, "")

        def chosen(request: BenchRequest | None) -> None:
            if request is None:
                return
            self.last_bench = request
            plan = self.sources.plan_run(
                request.targets,
                request.suite,
                request.repetitions,
                request.label or None,
                request.warmup,
                Design(request.concurrent, request.launches),
            )
            notes = self.sources.plan_notes(plan)

            def start() -> None:
                self.notify("\n".join(notes.lines), title="run plan", timeout=10)
                self.bench_stop = threading.Event()
                self.bench_targets = set(request.targets)
                self.run_bench(plan, self.bench_stop)

            if notes.restarts:
                self._confirm(
                    f"This run restarts {', '.join(notes.restarts)} (running now): what it "
                    "holds is lost and its probe verdict no longer applies. Run it?",
                    start,
                )
            else:
                start()

        self.push_screen(BenchDialog(targets, self.sources.suites, last, blocked), chosen)

    def action_stop_bench(self) -> None:
        """Stop the running benchmark after a confirmation; measured values are kept."""
        stop = self.bench_stop
        if stop is None:
            self.notify("no benchmark is running", severity="warning")
            return
        self._confirm("Stop the running benchmark? What was measured is kept.", stop.set)

    def action_results(self) -> None:
        """Open the results browser (its chart and statistics modules load on first use)."""
        from sevtui.tui.results import ResultsScreen

        if self._loaded():
            self.push_screen(ResultsScreen(self.sources))

    def action_fleet(self) -> None:
        """The fleet's hosts: capability rows and live progress of a fleet run."""
        self.push_screen(FleetScreen(self.sources))

    def action_help(self) -> None:
        """The keys of the screen in front, with what each does (not Textual's generic
        ones: arrows, tab and the like are left out)."""
        from sevtui.tui.dialogs import KeysScreen

        if isinstance(self.screen, KeysScreen):
            self.screen.dismiss(None)
            return
        keys: dict[str, str] = {}
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if binding.show and active.enabled and binding.description:
                shown = binding.key_display or self.get_key_display(binding)
                keys.setdefault(shown, binding.description)
        title = "dashboard" if len(self.screen_stack) == 1 else type(self.screen).__name__
        self.push_screen(KeysScreen(title.removesuffix("Screen").lower(), sorted(keys.items())))

    def action_help_quit(self) -> None:
        """Ctrl+C: say how to quit (in plain text; notifications here show no markup)."""
        self.notify("press q (or Ctrl+Q) to quit sevtui; VMs keep running", title="Quit?")

    def action_quit_app(self) -> None:
        """Quit without stopping VMs; asks while a benchmark runs."""
        stop = self.bench_stop
        if stop is None:
            self.exit()
            return

        def leave() -> None:
            stop.set()
            self.exit()

        self._confirm("A benchmark is running. Stop it (measurements are kept) and quit?", leave)

    def _confirm(self, question: str, then: Callable[[], object]) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                then()

        self.push_screen(ConfirmScreen(question), answered)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """VM and benchmark keys belong to the dashboard: over another screen they are
        neither listed in its footer nor run."""
        return not (action in DASHBOARD_ACTIONS and len(self.screen_stack) > 1)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """Every action in the command palette (Ctrl+P)."""
        yield from super().get_system_commands(screen)
        for binding in self.BINDINGS:
            if isinstance(binding, Binding) and binding.action not in ("quit_app", "help"):
                action = binding.action
                yield SystemCommand(
                    binding.description.capitalize(),
                    f"{binding.description} (key {binding.key})",
                    lambda action=action: self.run_action(action),
                )
