"""The results browser: runs, a comparison of two profiles, charts, export."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import ContentSwitcher, DataTable, Footer, Header, Input, Select, Static
from textual_plotext import PlotextPlot

from sevtui.bench.results import CATEGORY_ORDER, ComparisonTable
from sevtui.tui.dialogs import ExportDialog

if TYPE_CHECKING:
    from sevtui.store import RunInfo
    from sevtui.tui.sources import Sources


class RunsLoaded(Message):
    """Stored runs arrived."""

    def __init__(self, runs: list[RunInfo]) -> None:
        super().__init__()
        self.runs = runs


class ProfilesLoaded(Message):
    """The profiles measured in the selected runs."""

    def __init__(self, run_ids: list[int], names: list[str]) -> None:
        super().__init__()
        self.run_ids = run_ids
        self.names = names


class ComparisonLoaded(Message):
    """A comparison table is ready."""

    def __init__(self, table: ComparisonTable) -> None:
        super().__init__()
        self.table = table


class ValuesLoaded(Message):
    """Per-profile values of one metric (repetitions chart)."""

    def __init__(self, title: str, values: dict[str, list[float]]) -> None:
        super().__init__()
        self.title = title
        self.values = values


class ResultsScreen(Screen[None]):
    """Browse stored runs and read the overhead as a table and as charts."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "back"),
        Binding("space", "mark", "mark run"),
        Binding("enter", "compare", "compare", show=False),
        Binding("t", "show_table", "table"),
        Binding("g", "chart_overhead", "overhead chart"),
        Binding("v", "chart_values", "repetitions chart"),
        Binding("e", "export", "export"),
        Binding("slash", "focus_filter", "filter"),
    ]

    def __init__(self, sources: Sources) -> None:
        super().__init__()
        self.sources = sources
        self.all_runs: list[RunInfo] = []
        self.marked: set[int] = set()
        self.run_ids: list[int] = []
        self.table: ComparisonTable | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="filter runs: type a label, status or target", id="filter")
        runs: DataTable[str | Text] = DataTable(id="runs", cursor_type="row")
        runs.border_title = "Runs (space marks, Enter compares)"
        yield runs
        with Horizontal(id="pickers"):
            yield Select[str]([], prompt="base", id="base")
            yield Select[str]([], prompt="other", id="other")
        with ContentSwitcher(initial="comparison", id="views"):
            yield DataTable(id="comparison", cursor_type="row")
            yield PlotextPlot(id="chart")
        yield Static("", id="summary")
        yield Footer()

    def on_mount(self) -> None:
        runs = self.query_one("#runs", DataTable)
        for column in ("id", "label", "date", "status", "targets", "values"):
            runs.add_column(column, key=column)
        comparison = self.query_one("#comparison", DataTable)
        for column in (
            "category",
            "benchmark",
            "metric",
            "base",
            "other",
            "overhead %",
            "95% CI",
            "",
        ):
            comparison.add_column(column, key=column)
        self.query_one("#runs", DataTable).focus()
        self.load_runs()

    @work(thread=True, exclusive=True, exit_on_error=False, group="results")
    def load_runs(self) -> None:
        """Read stored runs in a worker."""
        self.post_message(RunsLoaded(self.sources.runs()))

    def on_runs_loaded(self, message: RunsLoaded) -> None:
        self.all_runs = message.runs
        self._fill_runs()
        if message.runs:
            self.action_compare()

    def _fill_runs(self) -> None:
        needle = self.query_one("#filter", Input).value.strip().lower()
        table = self.query_one("#runs", DataTable)
        table.clear()
        for run in self.all_runs:
            text = f"{run.label} {run.status} {' '.join(run.targets)}".lower()
            if needle and needle not in text:
                continue
            mark = "* " if run.id in self.marked else ""
            table.add_row(
                f"{mark}{run.id}",
                run.label,
                time.strftime("%Y-%m-%d %H:%M", time.localtime(run.started)),
                run.status,
                ", ".join(run.targets),
                str(run.measurements),
                key=str(run.id),
            )

    @on(Input.Changed, "#filter")
    def _filter(self) -> None:
        self._fill_runs()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one("#runs", DataTable).focus()

    def action_focus_filter(self) -> None:
        """Jump to the filter box."""
        self.query_one("#filter", Input).focus()

    def _highlighted_run(self) -> int | None:
        table = self.query_one("#runs", DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return int(key) if key is not None else None

    def action_mark(self) -> None:
        """Mark or unmark the highlighted run (marked runs are compared together)."""
        run_id = self._highlighted_run()
        if run_id is None:
            return
        self.marked ^= {run_id}
        row = self.query_one("#runs", DataTable).cursor_row
        self._fill_runs()
        self.query_one("#runs", DataTable).move_cursor(row=row)

    def action_compare(self) -> None:
        """Compare the marked runs, or the highlighted one."""
        highlighted = self._highlighted_run()
        run_ids = sorted(self.marked) or ([highlighted] if highlighted is not None else [])
        if run_ids:
            self.load_profiles(run_ids)

    @on(DataTable.RowSelected, "#runs")
    def _run_selected(self) -> None:
        self.action_compare()

    @work(thread=True, exclusive=True, exit_on_error=False, group="results")
    def load_profiles(self, run_ids: list[int]) -> None:
        """Which profiles these runs measured."""
        self.post_message(ProfilesLoaded(run_ids, self.sources.profiles(run_ids)))

    def on_profiles_loaded(self, message: ProfilesLoaded) -> None:
        self.run_ids = message.run_ids
        options = [(name, name) for name in message.names]
        base, other = self.query_one("#base", Select), self.query_one("#other", Select)
        with self.app.batch_update():
            base.set_options(options)
            other.set_options(options)
            if len(message.names) >= 2:
                first = baseline(message.names)
                base.value = first
                other.value = next(name for name in message.names if name != first)
        summary = self.query_one("#summary", Static)
        if len(message.names) < 2:
            summary.update(
                f"runs {message.run_ids} measured {', '.join(message.names) or 'nothing'}: "
                "mark runs of two profiles (space) to compare them"
            )
        self._request_comparison()

    @on(Select.Changed)
    def _profiles_changed(self) -> None:
        self._request_comparison()

    def _request_comparison(self) -> None:
        base, other = self.query_one("#base", Select).value, self.query_one("#other", Select).value
        if isinstance(base, str) and isinstance(other, str) and base != other and self.run_ids:
            self.load_comparison(list(self.run_ids), base, other)

    @work(thread=True, exclusive=True, exit_on_error=False, group="compare")
    def load_comparison(self, run_ids: list[int], base: str, other: str) -> None:
        """Build the comparison in a worker."""
        self.post_message(ComparisonLoaded(self.sources.comparison(run_ids, base, other)))

    def on_comparison_loaded(self, message: ComparisonLoaded) -> None:
        self.table = table = message.table
        view = self.query_one("#comparison", DataTable)
        view.clear()
        for index, row in enumerate(table.rows):
            c = row.comparison
            ci = f"{c.overhead_ci95[0]:+.1f}..{c.overhead_ci95[1]:+.1f}" if c.overhead_ci95 else ""
            marks = ("*" if c.significant else "") + ("~" if row.noisy else "")
            style = "red" if c.overhead_pct > 0 else "green"
            view.add_row(
                row.category,
                row.benchmark,
                row.metric,
                f"{c.base.mean:.4g}",
                f"{c.other.mean:.4g}",
                Text(f"{c.overhead_pct:+.2f}", style=style),
                ci,
                marks,
                key=str(index),
            )
        parts = [f"{name} {value:+.1f}%" for name, value in table.categories.items()]
        overall = f"overall {table.overall:+.1f}%" if table.overall is not None else ""
        self.query_one("#summary", Static).update(
            f"{table.other} vs {table.base}: geometric mean overhead "
            + ", ".join([*parts, overall])
            + "   (* significant, ~ noisy)"
        )
        if self.query_one("#views", ContentSwitcher).current == "chart":
            self.action_chart_overhead()

    def action_show_table(self) -> None:
        """Back to the comparison table."""
        self.query_one("#views", ContentSwitcher).current = "comparison"

    def action_chart_overhead(self) -> None:
        """Bar chart: overhead % per benchmark, grouped by category (geometric mean per metric)."""
        if self.table is None:
            self.notify("no comparison to chart yet", severity="warning")
            return
        labels, values = overhead_bars(self.table)
        plot = self.query_one("#chart", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        plt.bar(labels, values, orientation="horizontal", width=0.4)
        plt.title(f"overhead % of {self.table.other} vs {self.table.base}")
        plot.refresh()
        self.query_one("#views", ContentSwitcher).current = "chart"

    def action_chart_values(self) -> None:
        """Repetitions of the highlighted metric, per profile, side by side."""
        if self.table is None or not self.table.rows:
            self.notify("no comparison to chart yet", severity="warning")
            return
        view = self.query_one("#comparison", DataTable)
        row = self.table.rows[min(view.cursor_row, len(self.table.rows) - 1)]
        self.load_values(list(self.run_ids), row.benchmark, row.metric, row.unit)

    @work(thread=True, exclusive=True, exit_on_error=False, group="compare")
    def load_values(self, run_ids: list[int], benchmark: str, metric: str, unit: str) -> None:
        """Fetch one metric's values."""
        values = self.sources.metric_values(run_ids, benchmark, metric)
        self.post_message(ValuesLoaded(f"{benchmark}: {metric} ({unit})", values))

    def on_values_loaded(self, message: ValuesLoaded) -> None:
        plot = self.query_one("#chart", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        for profile, values in message.values.items():
            plt.scatter(list(range(1, len(values) + 1)), values, label=profile)
        plt.title(message.title)
        plt.xlabel("repetition")
        plot.refresh()
        self.query_one("#views", ContentSwitcher).current = "chart"

    def action_export(self) -> None:
        """Ask where, then write the shown comparison."""
        if self.table is None:
            self.notify("nothing to export: compare two profiles first", severity="warning")
            return
        table = self.table
        default = Path.cwd() / f"sevtui-{table.other}-vs-{table.base}.md"

        def write(answer: tuple[Path, str] | None) -> None:
            if answer is None:
                return
            path, fmt = answer
            text = {"csv": table.to_csv, "json": table.to_json_text}.get(fmt, table.to_markdown)()
            try:
                path.write_text(text)
            except OSError as exc:
                self.notify(f"cannot write {path}: {exc.strerror or exc}", severity="error")
                return
            self.notify(f"comparison written to {path}")

        self.app.push_screen(ExportDialog(default), write)


def baseline(names: list[str]) -> str:
    """The natural base of a comparison: bare metal, else a normal VM, else the first."""
    for wanted in ("host", "nosev"):
        if wanted in names:
            return wanted
    return next((name for name in names if "nosev" in name), names[0])


def overhead_bars(table: ComparisonTable) -> tuple[list[str], list[float]]:
    """One bar per benchmark (geometric mean of its metrics), ordered by category."""
    from sevtui.bench.stats import geometric_mean_overhead

    per_bench: dict[tuple[int, str], list[float]] = {}
    for row in table.rows:
        rank = CATEGORY_ORDER.index(row.category) if row.category in CATEGORY_ORDER else 9
        per_bench.setdefault((rank, f"{row.category}: {row.benchmark}"), []).append(
            row.comparison.ratio
        )
    ordered = sorted(per_bench.items())
    return [label for (_r, label), _v in ordered], [
        round(geometric_mean_overhead(ratios), 2) for _k, ratios in ordered
    ]
