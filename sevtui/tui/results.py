"""The results browser: runs, a comparison of two profiles, charts, export."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import ContentSwitcher, DataTable, Footer, Header, Input, Select, Static
from textual_plotext import PlotextPlot

from sevtui.base.names import visible
from sevtui.bench.results import (
    ComparisonSet,
    ComparisonTable,
    MeanFigure,
    format_ci,
    format_pct,
    format_value,
)
from sevtui.tui.barchart import Bar, render_bars
from sevtui.tui.dialogs import ExportDialog
from sevtui.tui.screens import CoveringScreen, RunDetailScreen

if TYPE_CHECKING:
    from sevtui.bench.along import AlongPoint
    from sevtui.store.rows import RunInfo
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


ALL_OTHERS = "*"


class ComparisonLoaded(Message):
    """Comparisons of the base with one or more other profiles are ready."""

    def __init__(self, comparisons: ComparisonSet) -> None:
        super().__init__()
        self.comparisons = comparisons


class HostsCompared(Message):
    """One comparison of the same base and other per host that measured the runs."""

    def __init__(self, base: str, other: str, per_host: dict[str, ComparisonSet]) -> None:
        super().__init__()
        self.base = base
        self.other = other
        self.per_host = per_host


class ValuesLoaded(Message):
    """Per-profile values of one metric (repetitions chart)."""

    def __init__(self, title: str, values: dict[str, list[float]]) -> None:
        super().__init__()
        self.title = title
        self.values = values


class AlongLoaded(Message):
    """A sweep's overhead along one parameter (the along chart)."""

    def __init__(self, title: str, parameter: str, points: list[AlongPoint]) -> None:
        super().__init__()
        self.title = title
        self.parameter = parameter
        self.points = points


class ResultsScreen(CoveringScreen):
    """Browse stored runs and read the overhead as a table and as charts."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "back"),
        Binding("q", "app.pop_screen", "back", show=False),
        Binding("space", "mark", "mark run"),
        Binding("enter", "compare", "compare", show=False),
        Binding("t", "show_table", "table"),
        Binding("g", "chart_overhead", "overhead chart"),
        Binding("v", "chart_values", "repetitions chart"),
        Binding("l", "chart_along", "along chart"),
        Binding("h", "chart_hosts", "by host"),
        Binding("e", "export", "export"),
        Binding("i", "run_details", "run details"),
        Binding("slash", "focus_filter", "filter"),
    ]

    def __init__(self, sources: Sources) -> None:
        super().__init__()
        self.sources = sources
        self.all_runs: list[RunInfo] = []
        self.marked: set[int] = set()
        self.run_ids: list[int] = []
        self.profile_names: list[str] = []
        self.comparisons: ComparisonSet | None = None
        self.compared: tuple[list[int], str, list[str]] = ([], "", [])
        """The runs, base and others of the comparison asked for last (for a report)."""
        self.along: AlongLoaded | None = None
        """The along chart on screen, if any."""
        self.focus_comparison = False
        """Move to the comparison table once it is filled (after Enter on a run)."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(
            placeholder="filter runs: type a label, status or target", id="filter", compact=True
        )
        runs: DataTable[str | Text] = DataTable(id="runs", cursor_type="row")
        runs.border_title = "Runs (space marks, Enter compares)"
        yield runs
        with Horizontal(id="pickers"):
            yield Select[str]([], prompt="base", id="base", compact=True)
            yield Select[str]([], prompt="other", id="other", compact=True)
        with ContentSwitcher(initial="comparison", id="views"):
            yield DataTable(id="comparison", cursor_type="row")
            yield PlotextPlot(id="chart")
            with VerticalScroll(id="barchart"):
                yield Static("", id="bars")
        yield Static("", id="summary")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        runs = self.query_one("#runs", DataTable)
        for column in ("id", "label", "date", "status", "targets", "values"):
            runs.add_column(column, key=column)
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
                Text(visible(run.label)),
                time.strftime("%Y-%m-%d %H:%M", time.localtime(run.started)),
                Text(visible(run.status)),
                Text(visible(", ".join(run.targets))),
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

    def action_run_details(self) -> None:
        """Where the highlighted run ran, its design and every repetition."""
        run_id = self._highlighted_run()
        if run_id is None:
            self.notify("no run to show", severity="warning")
            return
        self.load_details(run_id)

    @work(thread=True, exclusive=True, exit_on_error=False, group="details")
    def load_details(self, run_id: int) -> None:
        """Read the run's report (in a worker), then show its details."""
        lines = self.sources.run_details(run_id)
        self.app.call_from_thread(self.app.push_screen, RunDetailScreen(run_id, lines))

    def action_compare(self) -> None:
        """Compare the marked runs, or the highlighted one."""
        highlighted = self._highlighted_run()
        run_ids = sorted(self.marked) or ([highlighted] if highlighted is not None else [])
        if run_ids:
            self.load_profiles(run_ids)

    @on(DataTable.RowSelected, "#runs")
    def _run_selected(self) -> None:
        """Enter on a run: compare it and move to the comparison table (pick a metric, v)."""
        self.focus_comparison = True
        self.action_compare()

    @work(thread=True, exclusive=True, exit_on_error=False, group="results")
    def load_profiles(self, run_ids: list[int]) -> None:
        """Which profiles these runs measured."""
        self.post_message(ProfilesLoaded(run_ids, self.sources.profiles(run_ids)))

    def on_profiles_loaded(self, message: ProfilesLoaded) -> None:
        self.run_ids = message.run_ids
        self.profile_names = message.names
        options = [(name, name) for name in message.names]
        base, other = self.query_one("#base", Select), self.query_one("#other", Select)
        with self.app.batch_update():
            base.set_options(options)
            other.set_options(
                [*options, ("all others", ALL_OTHERS)] if len(options) > 2 else options
            )
            if len(message.names) >= 2:
                first = baseline(message.names)
                base.value = first
                others = [name for name in message.names if name != first]
                other.value = ALL_OTHERS if len(others) > 1 else others[0]
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
        if not (isinstance(base, str) and isinstance(other, str) and self.run_ids):
            return
        if base == other:
            self.comparisons = None
            self.query_one("#comparison", DataTable).clear(columns=True)
            self.query_one("#summary", Static).update(
                f"base and other are both {base}: pick two different profiles"
            )
            return
        others = (
            [name for name in self.profile_names if name != base]
            if other == ALL_OTHERS
            else [other]
        )
        self.compared = (list(self.run_ids), base, others)
        self.load_comparison(list(self.run_ids), base, others)

    @work(thread=True, exclusive=True, exit_on_error=False, group="compare")
    def load_comparison(self, run_ids: list[int], base: str, others: list[str]) -> None:
        """Build the comparisons in a worker."""
        self.post_message(ComparisonLoaded(self.sources.comparisons(run_ids, base, others)))

    def on_comparison_loaded(self, message: ComparisonLoaded) -> None:
        self.comparisons = comparisons = message.comparisons
        view = self.query_one("#comparison", DataTable)
        view.clear(columns=True)
        first = comparisons.tables[0]
        for column in ("benchmark", "metric"):
            view.add_column(Text(column))
        for table in comparisons.tables:
            view.add_column(Text(f"{profile_label(table, table.other)} %"))
            view.add_column("95% CI")
            view.add_column("")
        view.add_column(Text(profile_label(first, first.base)))
        for table in comparisons.tables:
            view.add_column(Text(profile_label(table, table.other)))
        view.add_column("unit")
        view.add_column("category")
        for index, cells in enumerate(comparison_cells(comparisons)):
            view.add_row(*cells, key=str(index))
        if self.focus_comparison:
            self.focus_comparison = False
            view.focus()
        means = []
        for table in comparisons.tables:
            parts = [f"{name} {_short(mean)}" for name, mean in table.categories.items()]
            if table.overall is not None:
                parts.append(f"overall {_short(table.overall)}")
            means.append(f"{table.other}: " + ", ".join(parts))
        warnings = [w for table in comparisons.tables for w in table.warnings]
        left_out = [item for table in comparisons.tables for item in table.not_compared]
        if left_out:
            more = f" and {len(left_out) - 2} more" if len(left_out) > 2 else ""
            warnings.append(f"not compared: {'; '.join(left_out[:2])}{more}")
        self.query_one("#summary", Static).update(
            Text(
                "\n".join(
                    [
                        f"vs {visible(comparisons.base)}, geometric means over benchmarks: "
                        + visible("; ".join(means)),
                        *(f"warning: {visible(w)}" for w in dict.fromkeys(warnings)),
                        "H headline  * significant (BH-adjusted)  ~ noisy  "
                        "! flag (media, busy, trend): left out of the means",
                    ]
                )
            )
        )
        if self.query_one("#views", ContentSwitcher).current == "barchart":
            self.action_chart_overhead()

    def action_show_table(self) -> None:
        """Back to the comparison table."""
        self.query_one("#views", ContentSwitcher).current = "comparison"

    def action_chart_overhead(self) -> None:
        """Bars: overhead % per benchmark (its headline metrics), one bar per other profile."""
        if self.comparisons is None:
            self.notify("no comparison to chart yet", severity="warning")
            return
        chart = self.query_one("#barchart", VerticalScroll)
        width = max(chart.size.width or self.size.width, 40) - 2
        title = Text(
            f"overhead % vs {self.comparisons.base} per benchmark (scroll for more)", "bold"
        )
        rows = render_bars(overhead_bars(self.comparisons), width)
        self.query_one("#bars", Static).update(Text("\n").join([title, *rows]))
        self.query_one("#views", ContentSwitcher).current = "barchart"

    def action_chart_hosts(self) -> None:
        """Bars: the overhead per benchmark of one other profile, one bar per host."""
        if self.comparisons is None:
            self.notify("no comparison to chart yet", severity="warning")
            return
        first = self.comparisons.tables[0]
        self.load_hosts(list(self.run_ids), first.base, first.other)

    @work(thread=True, exclusive=True, exit_on_error=False, group="compare")
    def load_hosts(self, run_ids: list[int], base: str, other: str) -> None:
        """Compare BASE with OTHER on each host's runs, in a worker."""
        self.post_message(
            HostsCompared(base, other, self.sources.comparisons_by_host(run_ids, base, [other]))
        )

    def on_hosts_compared(self, message: HostsCompared) -> None:
        chart = self.query_one("#barchart", VerticalScroll)
        width = max(chart.size.width or self.size.width, 40) - 2
        hosts = ", ".join(message.per_host)
        title = Text(
            f"overhead % of {message.other} vs {message.base} per benchmark, one bar per host "
            f"({hosts})",
            "bold",
        )
        rows = render_bars(host_bars(message.per_host), width)
        self.query_one("#bars", Static).update(Text("\n").join([title, *rows]))
        self.query_one("#views", ContentSwitcher).current = "barchart"

    def on_resize(self) -> None:
        if self.query_one("#views", ContentSwitcher).current == "barchart":
            self.call_after_refresh(self.action_chart_overhead)

    def action_chart_values(self) -> None:
        """Repetitions of the highlighted metric, per profile, side by side."""
        rows = self.comparisons.tables[0].rows if self.comparisons else []
        if not rows:
            self.notify("no comparison to chart yet", severity="warning")
            return
        view = self.query_one("#comparison", DataTable)
        row = rows[min(view.cursor_row, len(rows) - 1)]
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

    def action_chart_along(self) -> None:
        """A sweep's overhead % per benchmark against the varied parameter."""
        from sevtui.bench.along import default_query

        query = default_query(self.profile_names)
        if query is None:
            self.notify(
                "not a sweep: the along chart needs variants (sevtui bench sweep)",
                severity="warning",
            )
            return
        self.load_along(list(self.run_ids), query.base, query.other, query.parameter)

    @work(thread=True, exclusive=True, exit_on_error=False, group="compare")
    def load_along(self, run_ids: list[int], base: str, other: str, parameter: str) -> None:
        """Compare the sweep's pairs at each value, in a worker."""
        points = self.sources.compare_along(run_ids, base, other, parameter)
        title = f"overhead % of {other} vs {base} along {parameter}"
        self.post_message(AlongLoaded(title, parameter, points))

    def on_along_loaded(self, message: AlongLoaded) -> None:
        self.along = message
        plot = self.query_one("#chart", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        for label, (xs, ys) in along_lines(message.points).items():
            plt.plot(xs, ys, label=label, marker="dot")
        labels = list(dict.fromkeys(point.value for point in message.points))
        plt.xticks(list(range(1, len(labels) + 1)), labels)
        plt.title(message.title)
        plt.xlabel(message.parameter)
        plot.refresh()
        self.query_one("#views", ContentSwitcher).current = "chart"

    def action_export(self) -> None:
        """Ask where, then write the shown comparison."""
        if self.comparisons is None:
            self.notify("nothing to export: compare two profiles first", severity="warning")
            return
        table = self.comparisons
        others = "-".join(t.other for t in table.tables)
        name = f"sevtui-{others}-vs-{table.base}.md".replace("/", "_")
        default = Path(self.sources.data_dir) / "exports" / name

        def write(answer: tuple[Path, str] | None) -> None:
            self.query_one("#comparison", DataTable).focus()
            if answer is not None:
                self.export(table, *answer)

        self.app.push_screen(ExportDialog(default), write)

    @work(thread=True, exclusive=True, exit_on_error=False, group="export")
    def export(self, table: ComparisonSet, path: Path, fmt: str) -> None:
        """Write the comparison as FMT (a figure or a report takes a second or two)."""
        from sevtui.base.outputs import write_output

        if fmt == "report":
            run_ids, base, others = self.compared
            written = self.sources.write_report(run_ids, base, others, path, replace=True)
            self.app.call_from_thread(
                self.notify, f"report written to {path} ({len(written)} files)"
            )
            return
        if fmt in ("pdf", "svg", "png"):
            from sevtui.report.figures import BarSeries, draw_overhead

            draw_overhead([BarSeries(t.other, t) for t in table.tables], path)
            self.app.call_from_thread(self.notify, f"figure written to {path}")
            return
        writers = {"csv": table.to_csv, "json": table.to_json_text}
        path.parent.mkdir(parents=True, exist_ok=True)
        write_output(path, writers.get(fmt, table.to_markdown)().encode(), "export")
        self.app.call_from_thread(self.notify, f"comparison written to {path}")


def baseline(names: list[str]) -> str:
    """The natural base of a comparison: bare metal, else a normal VM, else the first."""
    for wanted in ("host", "nosev"):
        if wanted in names:
            return wanted
    return next((name for name in names if "nosev" in name), names[0])


def _cut(text: str, width: int) -> str:
    """TEXT in at most WIDTH characters, an ellipsis where it was cut."""
    return text if len(text) <= width else text[: width - 1] + "…"


def _short(mean: MeanFigure) -> str:
    """+7.1% [+5.0..+9.2], or +7.1% (no CI)."""
    if mean.overhead_pct is None:
        return "n/a"
    ci = f" [{format_ci(mean.overhead_ci95)}]" if mean.overhead_ci95 else " (no CI)"
    return f"{mean.overhead_pct:+.1f}%{ci}"


def profile_label(table: ComparisonTable, profile: str) -> str:
    """A profile's column title, marked when its guest did not confirm its mode."""
    shown = visible(profile)
    return f"{shown} (unconfirmed)" if table.unconfirmed(profile) else shown


def along_lines(points: list[AlongPoint]) -> dict[str, tuple[list[int], list[float]]]:
    """One line per benchmark (and per set of held parameters): (x, overhead %) points,
    x being the position of the parameter's value."""
    positions = {value: i for i, value in enumerate(dict.fromkeys(p.value for p in points), 1)}
    lines: dict[str, tuple[list[int], list[float]]] = {}
    for point in points:
        held = ",".join(f"{k}={v}" for k, v in point.fixed.items())
        for bench in point.table.benchmarks:
            if bench.overhead_pct is not None:
                label = f"{bench.benchmark} ({held})" if held else bench.benchmark
                xs, ys = lines.setdefault(label, ([], []))
                xs.append(positions[point.value])
                ys.append(bench.overhead_pct)
    return lines


def overhead_bars(comparisons: ComparisonSet) -> list[Bar]:
    """One group per benchmark (ordered by category), one bar per other profile."""
    groups: dict[str, list[Bar]] = {}
    for table in comparisons.tables:
        for bench in table.benchmarks:
            label = f"{bench.category}: {bench.benchmark}"
            groups.setdefault(label, []).append(Bar(label, table.other, bench.overhead_pct))
    return [bar for bars in groups.values() for bar in bars]


def host_bars(per_host: dict[str, ComparisonSet]) -> list[Bar]:
    """One group per benchmark (ordered by category), one bar per host."""
    groups: dict[str, list[Bar]] = {}
    for host, comparisons in per_host.items():
        for bench in comparisons.tables[0].benchmarks:
            label = f"{bench.category}: {bench.benchmark}"
            groups.setdefault(label, []).append(Bar(label, host, bench.overhead_pct))
    return [bar for bars in groups.values() for bar in bars]


def comparison_cells(comparisons: ComparisonSet) -> list[list[str | Text]]:
    """Table rows, what matters first (at 80 columns it is on screen): benchmark and
    metric, then per other profile its overhead %, CI and marks; then the base mean, each
    other profile's mean, the unit and the category."""
    others = len(comparisons.tables)
    keyed: dict[tuple[str, str, str], list[str | Text]] = {}
    for position, table in enumerate(comparisons.tables):
        for row in table.rows:
            key = (row.category, row.benchmark, row.metric)
            if key not in keyed:
                mark = "H " if row.headline else "  "
                keyed[key] = [
                    Text(_cut(visible(row.benchmark), 20)),
                    Text(mark + _cut(visible(row.metric), 30)),
                    *[""] * (3 * others),
                    format_value(row.comparison.base.mean),
                    *[""] * others,
                    Text(visible(row.unit)),
                    Text(visible(row.category)),
                ]
            c = row.comparison
            marks = ("*" if c.significant else "") + ("~" if row.noisy else "")
            marks += "!" * len(row.flags)
            style = "red" if (c.overhead_pct or 0) > 0 else "green"
            at = 2 + 3 * position
            keyed[key][at : at + 3] = [
                Text(format_pct(c.overhead_pct), style=style),
                format_ci(c.overhead_ci95),
                marks,
            ]
            keyed[key][2 + 3 * others + 1 + position] = format_value(c.other.mean)
    return list(keyed.values())
