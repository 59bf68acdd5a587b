"""Pilot tests of every key path, against fake data sources (fast, deterministic)."""

from __future__ import annotations

import asyncio
import gc
import html
import json
import re
import threading
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import (
    ContentSwitcher,
    DataTable,
    Input,
    Label,
    ProgressBar,
    Select,
    SelectionList,
    Static,
)
from textual_plotext import PlotextPlot

from sevtui.bench import events
from sevtui.store.rows import RunInfo
from sevtui.tui.app import SevtuiApp
from sevtui.tui.dashboard import BenchPane, HostPane, VmPane, VmTable
from sevtui.tui.dialogs import BenchDialog, ConfirmScreen, ExportDialog, KeysScreen
from sevtui.tui.results import ResultsScreen, along_lines, host_bars
from sevtui.tui.screens import ChecksScreen, FleetScreen, RunDetailScreen, VmDetailScreen
from sevtui.vm.inventory import VmRow
from tests.tui.fakes import FakeSources, sweep_measurements

Scenario = Callable[[SevtuiApp, Pilot[None]], Awaitable[None]]


def drive(
    scenario: Scenario, sources: FakeSources | None = None, size: tuple[int, int] = (100, 32)
) -> SevtuiApp:
    app = SevtuiApp(sources or FakeSources(), poll=False)

    async def run() -> None:
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            await scenario(app, pilot)

    asyncio.run(run())
    return app


async def settle(app: SevtuiApp, pilot: Pilot[None]) -> None:
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def open_results(app: SevtuiApp, pilot: Pilot[None]) -> ResultsScreen:
    """Press r and wait until the comparison has arrived (three workers in a row)."""
    await pilot.press("r")
    for _ in range(100):
        await settle(app, pilot)
        screen = app.screen
        if isinstance(screen, ResultsScreen) and screen.comparisons is not None:
            return screen
    raise AssertionError("the comparison never arrived")


def cell(table: VmTable, row: str, column: str) -> str:
    return str(table.get_cell(row, column))


def screen_text(app: SevtuiApp) -> str:
    """What the terminal shows, as plain text."""
    svg = app.export_screenshot()
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")


def test_dashboard_shows_the_three_panes() -> None:
    async def check(app: SevtuiApp, pilot: Pilot[None]) -> None:
        assert app.query_one(HostPane).border_title == "Host"
        assert app.query_one(BenchPane).border_title == "Benchmarks"
        assert app.query_one(VmPane).border_title == "VMs"
        table = app.query_one(VmTable)
        assert table.has_focus
        assert "SEV-SNP ready" in str(app.query_one(HostPane).render())
        assert cell(table, "demo", "state") == "running"
        assert cell(table, "demo", "PID") == "4242"
        assert cell(table, "ext:999", "name") == "hand-made (ext)"
        assert app.sub_title == "epyc-7713p · data /var/lib/sevtui"

    drive(check)


def test_start_and_stop_from_the_vms_pane() -> None:
    sources = FakeSources()

    async def check(app: SevtuiApp, pilot: Pilot[None]) -> None:
        table = app.query_one(VmTable)
        await pilot.press("down")
        assert table.row_name() == "nosev"
        await pilot.press("s")
        await settle(app, pilot)
        assert cell(table, "nosev", "state") == "running"
        await pilot.press("x")
        await settle(app, pilot)
        assert cell(table, "nosev", "state") == "stopped"
        await pilot.press("up", "k")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(app, pilot)
        assert "demo" in sources.running
        await pilot.press("k", "y")
        await settle(app, pilot)
        assert "demo" not in sources.running

    drive(check, sources)


def test_stopping_a_stopped_vm_shows_the_error_and_the_app_lives_on() -> None:
    async def check(app: SevtuiApp, pilot: Pilot[None]) -> None:
        await pilot.press("down", "x")
        await settle(app, pilot)
        messages = [n.message for n in app._notifications]
        assert any("is not running" in m for m in messages)
        assert app.is_running

    drive(check)


def test_probe_shows_the_verdict_on_the_row() -> None:
    async def check(app: SevtuiApp, pilot: Pilot[None]) -> None:
        await pilot.press("p")
        await settle(app, pilot)
        assert cell(app.query_one(VmTable), "demo", "memory probe").startswith("exposed")
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, VmDetailScreen)
        assert app.screen.probe_line.startswith("exposed at")
        assert " hits, " in app.screen.probe_line and "MiB scanned in" in app.screen.probe_line

    drive(check)


def test_benchmark_dialog_validates_cancels_and_runs() -> None:
    sources = FakeSources()

    async def check(app: SevtuiApp, pilot: Pilot[None]) -> None:
        pane = app.query_one(BenchPane)
        assert not pane.query(ProgressBar), "no progress bar (and its timer) before a run"
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, BenchDialog)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "pick at least one target" in str(app.screen.query_one("#error", Static).render())
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, BenchDialog)
        await pilot.press("b")
        await pilot.pause()
        await pilot.press("space")
        app.screen.query_one("#repetitions", Input).value = "zero"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "whole number" in str(app.screen.query_one("#error", Static).render())
        app.screen.query_one("#repetitions", Input).value = "2"
        statuses: list[str] = []
        original_apply = pane.apply

        def recording_apply(event: events.Event) -> None:
            original_apply(event)
            statuses.append(str(pane.query_one("#bench-status", Static).render()))

        pane.apply = recording_apply
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert [type(e).__name__ for e in sources.bench_events][-1] == "RunFinished"
        assert "running redis-quick" in statuses[3] and "left" in statuses[3]
        ended = [n for n in app._notifications if n.message.startswith("run 7 failed")]
        assert ended and "timeout" in ended[0].message and ended[0].severity == "warning"
        assert "[r] shows what was kept" in ended[0].message and not ended[0].markup
        assert "run 7 failed (demo/redis-quick" in str(
            pane.query_one("#bench-status", Static).render()
        )
        assert "timeout" in str(pane.query_one("#bench-last", Static).render())
        bar = pane.query_one(ProgressBar)
        assert (bar.progress, bar.total) == (2, 2)

    drive(check, sources)


def test_ctrl_c_cancels_the_benchmark_dialog() -> None:
    async def check(app: SevtuiApp, pilot: Pilot[None]) -> None:
        await pilot.press("b")
        await pilot.pause()
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert not isinstance(app.screen, BenchDialog) and app.is_running

    drive(check)


def test_checks_tree_opens_and_closes() -> None:
    async def check(app: SevtuiApp, pilot: Pilot[None]) -> None:
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, ChecksScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ChecksScreen)

    drive(check)


def test_results_compare_charts_and_export(tmp_path: Path) -> None:
    async def check(app: SevtuiApp, pilot: Pilot[None]) -> None:
        screen = await open_results(app, pilot)
        assert screen.comparisons is not None
        table = screen.comparisons.tables[0]
        rows = {(r.benchmark, r.metric): r for r in table.rows}
        assert round(rows[("linux-build", "time")].comparison.overhead_pct or 0, 2) == 11.68
        assert screen.query_one("#comparison", DataTable).row_count == len(table.rows)
        await pilot.press("g")
        await pilot.pause()
        assert screen.query_one("#views", ContentSwitcher).current == "barchart"
        await pilot.press("t", "v")
        await settle(app, pilot)
        assert screen.query_one("#views", ContentSwitcher).current == "chart"
        assert screen.query_one(PlotextPlot).display
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, ExportDialog)
        app.screen.query_one("#path", Input).value = str(tmp_path / "missing" / "x.md")
        await pilot.press("enter")
        await pilot.pause()
        assert "does not exist" in str(app.screen.query_one("#error", Static).render())
        app.screen.query_one("#path", Input).value = str(tmp_path / "out.md")
        await pilot.press("enter")
        await pilot.pause()
        assert "| cpu | linux-build | time |" in (tmp_path / "out.md").read_text()
        assert any("written to" in n.message for n in app._notifications)
        await pilot.press("slash")
        await pilot.press(*"zzz")
        await pilot.pause()
        assert screen.query_one("#runs", DataTable).row_count == 0

    drive(check)


def test_a_failing_worker_is_a_message_and_resizes_survive() -> None:
    sources = FakeSources()
    sources.fail_vms = True

    async def check(app: SevtuiApp, pilot: Pilot[None]) -> None:
        assert any("database busy" in n.message for n in app._notifications)
        await pilot.resize_terminal(40, 12)
        await pilot.pause()
        await pilot.resize_terminal(100, 32)
        await pilot.pause()
        assert app.is_running

    drive(check, sources)


def test_quit_with_q() -> None:
    async def check(app: SevtuiApp, pilot: Pilot[None]) -> None:
        await pilot.press("q")
        await pilot.pause()

    app = drive(check)
    assert app.return_code == 0


def test_overhead_bars_group_by_category() -> None:
    from sevtui.bench.catalog import build_catalog
    from sevtui.bench.results import build_comparisons
    from sevtui.store.rows import group_samples
    from sevtui.tui.results import overhead_bars
    from tests.tui.fakes import seed_measurements

    comparisons = build_comparisons(
        group_samples(seed_measurements()), "nosev", ["sev-snp"], 3.5, build_catalog().headlines()
    )
    bars = overhead_bars(comparisons)
    labels = [bar.group for bar in bars]
    assert labels[0].startswith("cpu: ") and labels[-1].startswith("io: ")
    linux = bars[labels.index("cpu: linux-build")].value
    assert linux is not None and round(linux, 2) == 11.68


def test_theme_palette_and_help() -> None:
    async def check(app: SevtuiApp, pilot: Pilot[None]) -> None:
        before = app.theme
        await pilot.press("d")
        await pilot.pause()
        assert app.theme != before
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, KeysScreen)
        await pilot.press("question_mark")
        await pilot.pause()
        assert not isinstance(app.screen, KeysScreen)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"results")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ResultsScreen)

    drive(check)


def test_a_crashing_vm_shows_as_crashed() -> None:
    sources = FakeSources()

    async def check(app: SevtuiApp, pilot: Pilot[None]) -> None:
        sources.running.discard("demo")
        sources.crashed.add("demo")
        app.refresh_vms()
        await settle(app, pilot)
        assert cell(app.query_one(VmTable), "demo", "state") == "crashed"
        assert app.is_running

    drive(check, sources)


def counting_sources() -> tuple[FakeSources, list[float]]:
    """Fake sources that count VM table reads."""
    sources = FakeSources()
    calls: list[float] = []
    original = sources.vms

    def counted() -> list[VmRow]:
        calls.append(0.0)
        return original()

    sources.vms = counted  # type: ignore[method-assign]
    return sources, calls


def test_actions_do_not_multiply_the_refresh_chain() -> None:
    sources, calls = counting_sources()
    app = SevtuiApp(sources, poll=True)

    async def run() -> None:
        async with app.run_test(size=(100, 32)) as pilot:
            await pilot.pause()
            for _ in range(5):
                await pilot.press("s")
                await pilot.pause(0.05)
            await pilot.pause(0.5)
            calls.clear()
            await pilot.pause(3.2)

    asyncio.run(run())
    assert len(calls) <= 4, f"{len(calls)} refreshes in 3.2 s: the poll chain multiplied"


def test_stored_probe_verdicts_show_from_the_start() -> None:
    async def check(app: SevtuiApp, pilot: Pilot[None]) -> None:
        assert cell(app.query_one(VmTable), "nosev", "memory probe").startswith("not readable")

    drive(check)


def test_changed_cells_are_repainted_in_place() -> None:
    """The uptime column (wide terminal: at 80 columns it scrolls off) repaints alone."""
    sources = FakeSources()

    async def check(app: SevtuiApp, pilot: Pilot[None]) -> None:
        table = app.query_one(VmTable)
        await pilot.press("down", "up")
        assert "1:05" in screen_text(app)
        sources.uptime_s = 66.0
        app.refresh_vms()
        await settle(app, pilot)
        shown = screen_text(app)
        assert "1:06" in shown and "1:05" not in shown
        sources.uptime_s = 3666.0
        app.refresh_vms()
        await settle(app, pilot)
        assert "1:01:06" in screen_text(app)
        assert table.row_name() == "demo"

    drive(check, sources, size=(160, 32))


def test_garbage_collection_resumes_after_the_first_frame() -> None:
    gc.disable()  # as cli.open_tui does before importing the app
    try:

        async def check(app: SevtuiApp, pilot: Pilot[None]) -> None:
            assert gc.isenabled()

        drive(check)
    finally:
        gc.unfreeze()
        gc.enable()


class ThreeProfiles(FakeSources):
    """The seed's two profiles plus an `sev` profile 3 % slower than nosev everywhere."""

    def __init__(self) -> None:
        super().__init__()
        self.measured += [
            replace(
                m,
                target="sev",
                value=m.value * (1.03 if m.direction == "lower" else 1 / 1.03),
            )
            for m in self.measured
            if m.target == "nosev"
        ]


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_every_bar_has_its_label_on_its_own_row(size: tuple[int, int]) -> None:
    """Read from the rendered chart: labels sit on their bars, lengths follow the values."""

    async def check(app: SevtuiApp, pilot: Pilot[None]) -> None:
        screen = await open_results(app, pilot)
        assert screen.comparisons is not None
        tables = screen.comparisons.tables
        assert [t.other for t in tables] == ["sev", "sev-snp"]
        await pilot.press("g")
        await settle(app, pilot)
        chart = screen.query_one("#barchart")
        lines = str(screen.query_one("#bars", Static).render()).splitlines()[1:]
        expected: list[tuple[str, str, float]] = []
        for bench in tables[0].benchmarks:
            for table in tables:
                mine = next(b for b in table.benchmarks if b.benchmark == bench.benchmark)
                assert mine.overhead_pct is not None
                expected.append(
                    (f"{bench.category}: {bench.benchmark}", table.other, mine.overhead_pct)
                )
        assert len(lines) == len(expected) == 20
        signed: list[tuple[float, int]] = []
        for index, ((label, profile, value), line) in enumerate(zip(expected, lines, strict=True)):
            assert len(line) <= chart.size.width
            if index % len(tables) == 0:
                assert line.startswith(label + " "), (line, label)
            else:
                assert line.startswith(" " * len(label))
            assert f" {profile} " in line and line.rstrip().endswith(f"{value:+.1f}%")
            length = line.count("█")
            signed.append((value, length if value >= 0 else -length))
        ordered = [length for _value, length in sorted(signed)]
        assert ordered == sorted(ordered) and ordered[-1] > 0
        if size == (80, 24):
            assert chart.max_scroll_y > 0, "20 bars do not fit in 80x24: the chart scrolls"

    drive(check, ThreeProfiles(), size)


def test_the_datatable_internals_the_vm_table_relies_on_exist() -> None:
    """A Textual upgrade that renames them fails here, not in a user's terminal."""
    table: DataTable[str] = DataTable()
    assert isinstance(table._data, dict) and isinstance(table._update_count, int)


def test_polling_pauses_while_the_results_screen_covers_the_dashboard() -> None:
    sources, calls = counting_sources()
    app = SevtuiApp(sources, poll=True)
    seen: dict[str, int] = {}

    async def run() -> None:
        async with app.run_test(size=(100, 32)) as pilot:
            await pilot.pause(0.5)
            await pilot.press("r")
            await pilot.pause(0.3)
            calls.clear()
            await pilot.pause(2.5)
            seen["covered"] = len(calls)
            await pilot.press("escape")
            await pilot.pause(1.5)
            seen["back"] = len(calls)

    asyncio.run(run())
    assert seen["covered"] == 0, "the VM table was polled under the results screen"
    assert seen["back"] >= 1, "polling resumed when the dashboard came back"


def test_keys_before_the_config_has_loaded_say_so() -> None:
    release = threading.Event()

    def slow() -> FakeSources:
        release.wait(10)
        return FakeSources()

    app = SevtuiApp(slow, poll=False)

    async def run() -> None:
        async with app.run_test(size=(100, 32)) as pilot:
            await pilot.pause()
            for key in ("r", "b"):
                await pilot.press(key)
                for _ in range(50):
                    await pilot.pause(0.02)
                    said = [n for n in app._notifications if "still loading" in n.message]
                    if len(said) == ("r", "b").index(key) + 1:
                        break
            assert app.is_running and not isinstance(app.screen, ResultsScreen)
            loading = [n for n in app._notifications if "still loading" in n.message]
            assert len(loading) == 2
            release.set()
            for _ in range(3):
                await app.workers.wait_for_complete()
                await pilot.pause()

    asyncio.run(run())


def test_escape_closes_the_keys_panel_and_q_in_results_goes_back() -> None:
    async def check(app: SevtuiApp, pilot: Pilot[None]) -> None:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, KeysScreen)
        shown = str(app.screen.query_one("#keys", Static).render())
        assert "results" in shown and "start" in shown and "probe" in shown
        assert "cursor" not in shown.lower(), "this screen's keys, not Textual's generic ones"
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, KeysScreen)
        await open_results(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, KeysScreen)
        shown = str(app.screen.query_one("#keys", Static).render())
        assert "overhead chart" in shown and "start" not in shown
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("q")
        await pilot.pause()
        assert app.is_running and not isinstance(app.screen, ResultsScreen)

    drive(check)


def test_the_palette_lists_each_command_once_and_ctrl_c_says_how_to_quit() -> None:
    async def check(app: SevtuiApp, pilot: Pilot[None]) -> None:
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert len(titles) == len(set(titles)), titles
        await pilot.press("ctrl+c")
        await pilot.pause()
        said = [n.message for n in app._notifications if "quit" in n.message]
        assert said and "[b]" not in said[-1]

    drive(check)


def test_stopping_a_vm_another_sevtuis_benchmark_holds_asks_first() -> None:
    sources = FakeSources()
    sources.leased["demo"] = "benchmark run 3 'quick' (PID 4321)"

    async def check(app: SevtuiApp, pilot: Pilot[None]) -> None:
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "benchmark run 3" in app.screen.question
        await pilot.press("escape")
        await settle(app, pilot)
        assert "demo" in sources.running, "nothing stopped without a yes"

    drive(check, sources)


CONSOLE = """sevtui guest: kernel 6.1.0-41-amd64, clocksource tsc
sevtui# printf '%s%s\\n' SVB_ 0a1b2c3d4e5f; ( export SEVTUI_WORK=/tmp/sevtui-benc
h; cd "$SEVTUI_WORK" && uname -r ); printf '%s%s:%s\\n' SVE_ 0a1b2c3d4e5f $?
SVB_0a1b2c3d4e5f
6.1.0-41-amd64
SVE_0a1b2c3d4e5f:0
sevtui# stty -echo; printf '%s%s\\n' SVQ_ 99aa88bb77cc
SVQ_99aa88bb77cc
SVB_99aa88bb77cc
SEVTUI-PLANTED
SVE_99aa88bb77cc:0
"""


def test_the_console_log_hides_sevtuis_framing() -> None:
    from sevtui.tui.dialogs import console_lines

    assert console_lines(CONSOLE) == [
        "sevtui guest: kernel 6.1.0-41-amd64, clocksource tsc",
        "6.1.0-41-amd64",
        "SEVTUI-PLANTED",
    ]


def test_the_console_dialog_keeps_each_commands_output_in_a_log() -> None:
    from textual.widgets import RichLog

    from sevtui.tui.dialogs import ExecDialog

    async def check(app: SevtuiApp, pilot: Pilot[None]) -> None:
        await pilot.press("e")
        await settle(app, pilot)
        dialog = app.screen
        assert isinstance(dialog, ExecDialog)
        dialog.query_one("#command", Input).value = "uname -a"
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen is dialog, "the dialog stays open for the next command"
        log = dialog.query_one("#console-log", RichLog)
        text = "\n".join(line.text for line in log.lines)
        assert text.count("$ uname -a") == 1, "each command is echoed once"
        assert "ran uname -a" in text and "(exit 0)" in text
        assert "SVB_" not in text
        dialog.query_one("#command", Input).value = "echo " + "x" * 300
        await pilot.press("enter")
        await settle(app, pilot)
        assert all(len(line.text) <= log.size.width for line in log.lines), "long lines wrap"
        await pilot.press("up")
        assert dialog.query_one("#command", Input).value == "echo " + "x" * 300
        await pilot.press("up")
        assert dialog.query_one("#command", Input).value == "uname -a"
        await pilot.press("down", "down")
        assert dialog.query_one("#command", Input).value == ""
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ExecDialog)
        table = app.query_one(VmTable)
        table.move_cursor(row=table.get_row_index("nosev"))
        await pilot.press("e", "p")
        await pilot.pause()
        stopped = [n.message for n in app._notifications if "start it first" in n.message]
        assert len(stopped) == 2 and not isinstance(app.screen, ExecDialog)

    drive(check)


def test_the_benchmark_dialog_shows_run_and_cancel_at_80x24() -> None:
    async def check(app: SevtuiApp, pilot: Pilot[None]) -> None:
        await pilot.press("b")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, BenchDialog)
        for button in ("#run", "#cancel"):
            region = dialog.query_one(button).region
            assert region.height > 0 and region.bottom <= 24 and region.right <= 80, button
        title = str(dialog.query_one(Label).render())
        assert title.endswith("Esc cancels")

    drive(check, size=(80, 24))


def test_enter_on_a_run_moves_to_the_comparison_so_v_charts_the_chosen_metric() -> None:
    async def check(app: SevtuiApp, pilot: Pilot[None]) -> None:
        screen = await open_results(app, pilot)
        runs = screen.query_one("#runs", DataTable)
        runs.focus()
        await pilot.press("enter")
        for _ in range(50):
            await settle(app, pilot)
            if screen.focused is screen.query_one("#comparison", DataTable):
                break
        comparison = screen.query_one("#comparison", DataTable)
        assert screen.focused is comparison
        await pilot.press("down", "down", "v")
        await settle(app, pilot)
        assert screen.query_one("#views", ContentSwitcher).current == "chart"

    drive(check)


def test_the_bench_pane_says_when_a_run_measures_every_target_at_once() -> None:
    async def check(app: SevtuiApp, pilot: Pilot[None]) -> None:
        pane = app.query_one(BenchPane)
        status = pane.query_one("#bench-status", Static)
        together = events.RunStarted(9, "sw", ("a@vcpus=1", "b@vcpus=1"), ("spin",), 4, True)
        pane.apply(together)
        await pilot.pause()
        assert "(concurrent: all at once)" in str(status.render())
        pane.apply(events.BenchmarkStarted("a@vcpus=1", "spin", 1, planned=4))
        await pilot.pause()
        assert "running spin on every target at once (rep 1)" in str(status.render())
        pane.apply(events.RunStarted(10, "one", ("a@vcpus=1",), ("spin",), 2))
        pane.apply(events.BenchmarkStarted("a@vcpus=1", "spin", 1, planned=2))
        await pilot.pause()
        assert "running spin on a@vcpus=1 (rep 1)" in str(status.render())

    drive(check, FakeSources())


def test_the_along_chart_draws_a_sweeps_overhead_against_its_parameter() -> None:
    """Values scaled alike at both vCPU counts: each benchmark's overhead stays the seed's."""
    sources = FakeSources()
    sources.measured = sweep_measurements()

    async def check(app: SevtuiApp, pilot: Pilot[None]) -> None:
        screen = await open_results(app, pilot)
        await pilot.press("l")
        await settle(app, pilot)
        assert screen.query_one("#views", ContentSwitcher).current == "chart"
        message = screen.along
        assert message is not None
        assert message.title == "overhead % of sev-snp vs nosev along vcpus"
        lines = along_lines(message.points)
        xs, ys = lines["linux-build"]
        assert xs == [1, 2]
        assert ys[0] == pytest.approx(11.68, abs=0.01) and ys[1] == pytest.approx(ys[0])

    drive(check, sources)


def test_the_along_chart_needs_a_sweep() -> None:
    async def check(app: SevtuiApp, pilot: Pilot[None]) -> None:
        await open_results(app, pilot)
        await pilot.press("l")
        await pilot.pause()
        assert any("not a sweep" in n.message for n in app._notifications)

    drive(check, FakeSources())


def test_the_fleet_screen_lists_hosts_and_follows_their_progress() -> None:
    sources = FakeSources()

    async def check(app: SevtuiApp, pilot: Pilot[None]) -> None:
        await pilot.press("f")
        await settle(app, pilot)
        assert isinstance(app.screen, FleetScreen)
        text = screen_text(app)
        assert "milan-a" in text and "lz4-compress-quick  repetition 2" in text
        assert "unreachable" in text and "genoa-b: SEV-SNP: kvm_amd sev_snp=0" in text
        assert "sev sev-es sev-snp" in text and "spr-c" in text and " tdx " in text
        sources.fleet[0]["progress"] = "bench  fio-quick  repetition 1"
        fleet_screen = app.screen
        assert isinstance(fleet_screen, FleetScreen)
        fleet_screen.refresh_hosts()
        await settle(app, pilot)
        assert "fio-quick  repetition 1" in screen_text(app)
        sources.fleet = []
        fleet_screen.refresh_hosts()
        await settle(app, pilot)
        assert "No fleet yet: sevtui fleet caps --inventory FILE" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, FleetScreen)

    drive(check, sources, size=(120, 32))


def test_the_overhead_per_benchmark_with_one_bar_per_host() -> None:
    async def check(app: SevtuiApp, pilot: Pilot[None]) -> None:
        screen = await open_results(app, pilot)
        await pilot.press("h")
        for _ in range(50):
            await settle(app, pilot)
            if "one bar per host" in screen_text(app):
                break
        text = screen_text(app)
        assert "overhead % of sev-snp vs nosev per benchmark, one bar per host" in text
        assert "(genoa-b, milan-a)" in text
        bars = host_bars(FakeSources().comparisons_by_host([], "nosev", ["sev-snp"]))
        linux = {bar.series: bar.value for bar in bars if bar.group == "cpu: linux-build"}
        assert list(linux) == ["genoa-b", "milan-a"]
        milan, genoa = linux["milan-a"], linux["genoa-b"]
        assert milan is not None and genoa is not None
        # genoa-b's sev-snp times are 10 % longer: its ratio of means is milan-a's x 1.1.
        assert genoa == pytest.approx(((1 + milan / 100) * 1.1 - 1) * 100)
        assert screen.comparisons is not None

    drive(check, size=(120, 40))


def test_text_from_hosts_on_the_fleet_screen_is_never_markup_or_a_crash() -> None:
    sources = FakeSources()
    sources.fleet = [
        {"host": "milan-a", "status": "ok", "why_not": "no /dev/sev [/dev/sev missing]"},
        {"host": "milan-a", "status": "failed", "cpu": "[bold]x\x1b[2J"},
        {"status": "working", "progress": "no host key at all"},
    ]

    async def check(app: SevtuiApp, pilot: Pilot[None]) -> None:
        await pilot.press("f")
        await settle(app, pilot)
        assert isinstance(app.screen, FleetScreen)
        text = screen_text(app)
        assert "milan-a: no /dev/sev [/dev/sev missing]" in text
        assert "[bold]x\\x1b[2J" in text, "markup and escapes are shown as text"
        assert "no host key at all" in text
        assert app.screen.query_one("#fleet", DataTable).row_count == 3

    drive(check, sources, size=(140, 32))


def test_a_label_with_escapes_is_shown_escaped_in_the_results_browser() -> None:
    sources = FakeSources()
    sources.label = "evil\x1b]0;title\x07[/x]"

    async def check(app: SevtuiApp, pilot: Pilot[None]) -> None:
        await open_results(app, pilot)
        assert "evil\\x1b]0;title\\x07[/x]" in screen_text(app)

    drive(check, sources, size=(140, 40))


def test_a_run_that_restarts_a_running_vm_asks_first_and_says_its_plan() -> None:
    sources = FakeSources()

    async def check(app: SevtuiApp, pilot: Pilot[None]) -> None:
        for answer, runs in (("n", False), ("y", True)):
            await pilot.press("b")
            await pilot.pause()
            dialog = app.screen
            assert isinstance(dialog, BenchDialog)
            dialog.query_one("#targets", SelectionList).select("demo")
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen), "demo runs now: the app asks"
            assert "restarts demo" in str(app.screen.query_one(Label).render())
            await pilot.press(answer)
            await settle(app, pilot)
            planned = [n for n in app._notifications if n.title == "run plan"]
            assert bool(planned) == runs, "the plan is said when the run starts, only then"

    drive(check, sources)


def test_a_run_started_elsewhere_shows_in_the_benchmarks_pane() -> None:
    sources = FakeSources()
    sources.elsewhere = [RunInfo(9, "sw", "running", "quick", ["demo@vcpus=1"], 0.0, None, 35)]

    async def check(app: SevtuiApp, pilot: Pilot[None]) -> None:
        status = str(app.query_one("#bench-status", Static).render())
        assert "run 9 'sw' running in another sevtui on demo@vcpus=1: 35 values so far" in status
        sources.elsewhere = []
        app.refresh_vms()
        await settle(app, pilot)
        assert "no benchmark running" in str(app.query_one("#bench-status", Static).render())

    drive(check, sources)


def test_the_bench_dialog_marks_blocked_vms_and_remembers_the_last_choice() -> None:
    sources = FakeSources()

    async def check(app: SevtuiApp, pilot: Pilot[None]) -> None:
        await pilot.press("b")
        await settle(app, pilot)
        dialog = app.screen
        assert isinstance(dialog, BenchDialog)
        targets = dialog.query_one("#targets", SelectionList)
        prompts = [str(targets.get_option_at_index(i).prompt) for i in range(targets.option_count)]
        assert "[ ] sev-snp  (cannot start here: this host cannot run sev-snp guests" in prompts[-1]
        assert prompts[0] == "[ ] host"
        await pilot.press("space")
        await pilot.pause()
        assert str(targets.get_option_at_index(0).prompt) == "[x] host", "not by colour only"
        dialog.query_one("#repetitions", Input).value = "4"
        dialog.query_one("#launches", Input).value = "2"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        await pilot.press("b")
        await settle(app, pilot)
        again = app.screen
        assert isinstance(again, BenchDialog)
        assert list(again.query_one("#targets", SelectionList).selected) == ["host"]
        assert again.query_one("#repetitions", Input).value == "4"
        assert again.query_one("#launches", Input).value == "2"

    drive(check, sources, size=(120, 40))


def test_at_80x24_the_vm_table_and_footer_show_what_matters() -> None:
    sources = FakeSources()

    async def check(app: SevtuiApp, pilot: Pilot[None]) -> None:
        lines = screen_text(app).splitlines()
        header = next(line for line in lines if "name" in line and "state" in line)
        for column in ("name", "state", "PID", "RSS", "CPU%", "SEV", "memory probe"):
            assert column in header, column
        footer = next(line for line in lines if "quit" in line)
        assert "r results" in footer and "? keys" in footer
        screen = await open_results(app, pilot)
        assert screen.query_one("#comparison", DataTable).row_count > 0
        shown = screen_text(app)
        assert "sev-snp %" in shown and "+11.68" in shown, "the overhead is on screen"

    drive(check, sources, size=(80, 24))


def test_the_export_dialog_follows_the_format_and_asks_before_replacing(
    tmp_path: Path,
) -> None:
    async def check(app: SevtuiApp, pilot: Pilot[None]) -> None:
        screen = await open_results(app, pilot)
        await pilot.press("e")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ExportDialog)
        assert dialog.query_one("#path", Input).value.startswith("/var/lib/sevtui/exports/")
        target = tmp_path / "cmp.md"
        target.write_text("keep me")
        dialog.query_one("#path", Input).value = str(target)
        dialog.query_one("#format", Select).value = "json"
        await pilot.pause()
        assert dialog.query_one("#path", Input).value == str(tmp_path / "cmp.json")
        (tmp_path / "cmp.json").write_text("old")
        dialog.query_one("#path", Input).focus()
        await pilot.press("enter")
        await pilot.pause()
        assert "exists: Enter again replaces it" in str(dialog.query_one("#error", Static).render())
        assert (tmp_path / "cmp.json").read_text() == "old"
        await pilot.press("enter")
        await settle(app, pilot)
        assert json.loads((tmp_path / "cmp.json").read_text())["base"] == "nosev"
        assert target.read_text() == "keep me"
        assert screen.query_one("#comparison", DataTable).has_focus, "back to the table"

    drive(check, size=(120, 40))


def test_the_app_exports_a_figure_and_a_report_folder(tmp_path: Path) -> None:
    async def check(app: SevtuiApp, pilot: Pilot[None]) -> None:
        screen = await open_results(app, pilot)
        for fmt, name in (("pdf", "cmp.pdf"), ("report", "cmp")):
            await pilot.press("e")
            await pilot.pause()
            dialog = app.screen
            assert isinstance(dialog, ExportDialog)
            dialog.query_one("#path", Input).value = str(tmp_path / "cmp.md")
            dialog.query_one("#format", Select).value = fmt
            await pilot.pause()
            assert dialog.query_one("#path", Input).value == str(tmp_path / name)
            dialog.query_one("#path", Input).focus()
            await pilot.press("enter")
            await settle(app, pilot)
            await app.workers.wait_for_complete()
            await pilot.pause()
        assert (tmp_path / "cmp.pdf").read_bytes().startswith(b"%PDF")
        assert "linux-build" in (tmp_path / "cmp" / "report.md").read_text()
        assert (tmp_path / "cmp" / "figures" / "overhead.svg").is_file()
        said = [n.message for n in app._notifications]
        assert f"figure written to {tmp_path / 'cmp.pdf'}" in said
        assert any(m.startswith(f"report written to {tmp_path / 'cmp'}") for m in said)
        assert screen.query_one("#comparison", DataTable).has_focus

    drive(check, size=(120, 40))


def test_hints_in_the_app_name_its_keys_not_cli_commands() -> None:
    from sevtui.tui.app import in_app_words

    assert in_app_words("see `sevtui caps` for the full check list") == (
        "the check tree (key c) for the full check list"
    )
    assert "key e" in in_app_words("see `sevtui vm exec NAME -- cloud-init status --long`")
    assert in_app_words("stop it first: sevtui vm stop demo") == "stop it first: x on the VM"


def test_the_results_browser_shows_a_runs_details() -> None:
    async def check(app: SevtuiApp, pilot: Pilot[None]) -> None:
        await open_results(app, pilot)
        app.screen.query_one("#runs", DataTable).focus()
        await pilot.press("i")
        await settle(app, pilot)
        assert isinstance(app.screen, RunDetailScreen)
        assert "run 2 details" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ResultsScreen)

    drive(check, size=(120, 40))
