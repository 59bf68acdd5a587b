"""Paper figures drawn with matplotlib: overhead bars with 95 % CIs, a sweep's curves,
one bar per host, and a metric's repetitions. Every number comes from the comparison
objects `results compare` prints; matplotlib is imported only when a figure is drawn.

Output is deterministic for the same data (fixed SVG ids, no dates), PDF fonts are
embedded as TrueType (Type 42), SVG text stays text, colours are the Okabe-Ito
colour-blind-safe palette, and each series also has a hatch so a grey print tells them
apart. Every bar, error bar and mean marker carries an SVG id (`bar:SERIES:BENCHMARK`,
`ci:SERIES:BENCHMARK`, `mean:SERIES:CATEGORY`) so tests and readers can find it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sevtui.base.errors import UsageError
from sevtui.base.outputs import write_output
from sevtui.bench.results import CATEGORY_ORDER, ComparisonTable, MeanFigure
from sevtui.report import ONE_COLUMN_IN, PLOT_KINDS

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from sevtui.bench.along import AlongPoint

FORMATS = ("pdf", "svg", "png")
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000")
HATCHES = ("", "///", "...", "xxx", "\\\\\\", "ooo", "---")
_ROW_IN = 0.2
_MARGIN_IN = 0.9


@dataclass(frozen=True)
class BarSeries:
    """One colour of bars: an other profile (or a host) against the base."""

    name: str
    table: ComparisonTable


def figure_format(path: Path) -> str:
    """pdf, svg or png from PATH's suffix; a clear error for anything else."""
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise UsageError(
            f"{path}: cannot tell the figure format from {path.suffix or 'no suffix'!r}",
            "name the file .pdf, .svg or .png",
        )
    return suffix


def _pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend, with the paper's settings."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams.update(
        {
            "pdf.fonttype": 42,
            "ps.fonttype": 42,
            "svg.fonttype": "none",
            "svg.hashsalt": "sevtui",
            "font.size": 7,
            "axes.titlesize": 8,
            "axes.labelsize": 7,
            "legend.fontsize": 6,
            "xtick.labelsize": 6,
            "ytick.labelsize": 6,
            "hatch.linewidth": 0.6,
        }
    )
    return plt


def save(figure: Figure, path: Path) -> None:
    """Write FIGURE to PATH without dates or tool versions, so equal data gives equal
    files (never through a link planted at PATH)."""
    import io

    kind = figure_format(path)
    metadata: dict[str, Any] = {
        "pdf": {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None},
        "svg": {"Date": None, "Creator": None},
        "png": {"Software": None},
    }[kind]
    buffer = io.BytesIO()
    figure.savefig(buffer, format=kind, metadata=metadata, dpi=300)
    write_output(path, buffer.getvalue(), "figure")


@dataclass(frozen=True)
class _Row:
    """One line of the bar chart: a benchmark, or a category's (or the overall) mean."""

    label: str
    category: str
    benchmark: str = ""
    mean: str = ""


def _rows(series: Sequence[BarSeries]) -> list[_Row]:
    """Benchmarks grouped by category (in CATEGORY_ORDER), each group sorted by its mean
    overhead over the series, then the category's mean; the overall mean last."""
    overheads: dict[str, list[float]] = {}
    categories: dict[str, str] = {}
    flags: dict[str, set[str]] = {}
    for item in series:
        for bench in item.table.benchmarks:
            categories[bench.benchmark] = bench.category
            flags.setdefault(bench.benchmark, set()).update(bench.flags)
            if bench.overhead_pct is not None:
                overheads.setdefault(bench.benchmark, []).append(bench.overhead_pct)
    rows: list[_Row] = []
    present = sorted(set(categories.values()), key=_category_rank)
    for category in present:
        names = [name for name, cat in categories.items() if cat == category]
        names.sort(key=lambda n: (-_mean(overheads.get(n, [])), n))
        rows += [_Row(_flagged(name, flags[name]), category, benchmark=name) for name in names]
        rows.append(_Row(f"{category} mean", category, mean=category))
    if len(present) > 1:
        rows.append(_Row("overall mean", "", mean="overall"))
    return rows


def _flagged(name: str, flags: set[str]) -> str:
    """A benchmark's label, with the flags that keep it out of the means: `mbw [busy]`."""
    return f"{name} [{', '.join(sorted(flags))}]" if flags else name


def _category_rank(category: str) -> tuple[int, str]:
    known = category in CATEGORY_ORDER
    return (CATEGORY_ORDER.index(category) if known else len(CATEGORY_ORDER), category)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("-inf")


def _figure_of(series: Sequence[BarSeries], rows: list[_Row], width_in: float) -> Any:
    plt = _pyplot()
    height = _MARGIN_IN + _ROW_IN * len(rows) * max(1, len(series)) ** 0.5
    return plt.figure(figsize=(width_in, height), layout="constrained")


def _bar_value(item: BarSeries, row: _Row) -> tuple[float | None, tuple[float, float] | None]:
    """(overhead %, CI) of ROW in ITEM's comparison; None where it has none."""
    table = item.table
    if row.benchmark:
        found = next((b for b in table.benchmarks if b.benchmark == row.benchmark), None)
        return (found.overhead_pct, found.overhead_ci95) if found else (None, None)
    mean: MeanFigure | None = table.overall if row.mean == "overall" else None
    if row.mean != "overall":
        mean = table.categories.get(row.mean)
    return (mean.overhead_pct, mean.overhead_ci95) if mean else (None, None)


def draw_overhead(
    series: Sequence[BarSeries], path: Path, width_in: float = ONE_COLUMN_IN, title: str = ""
) -> Path:
    """Horizontal bars of overhead % per benchmark, one bar per series, 95 % CIs as error
    bars, a zero line; category and overall means as diamonds with their CIs."""
    if not series or not any(item.table.benchmarks for item in series):
        raise UsageError(
            "nothing to plot: the comparison has no benchmark measured on both sides",
            "check the profiles with `sevtui results compare`",
        )
    rows = _rows(series)
    figure = _figure_of(series, rows, width_in)
    axes = figure.add_subplot(1, 1, 1)
    height = 0.8 / len(series)
    for index, item in enumerate(series):
        offset = (index - (len(series) - 1) / 2) * height
        for position, row in enumerate(rows):
            _draw_row(axes, item, row, (position + offset, height), index)
    _decorate(axes, rows, series, title)
    save(figure, path)
    _close(figure)
    return path


def _draw_row(
    axes: Axes, item: BarSeries, row: _Row, place: tuple[float, float], index: int
) -> None:
    """One series' bar (or mean marker) of one row, with its error bar."""
    y, height = place
    value, ci = _bar_value(item, row)
    colour, hatch = PALETTE[index % len(PALETTE)], HATCHES[index % len(HATCHES)]
    key = row.benchmark or row.mean
    if value is None:
        axes.text(0, y, " n/a", va="center", ha="left", fontsize=5, gid=f"na:{item.name}:{key}")
        return
    if row.benchmark:
        (bar,) = axes.barh(
            [y], [value], height=height, color=colour, hatch=hatch, edgecolor="black", lw=0.4
        )
        bar.set_gid(f"bar:{item.name}:{key}")
    else:
        axes.plot([value], [y], marker="D", ms=3.5, color=colour, mec="black", mew=0.4, ls="none")[
            0
        ].set_gid(f"mean:{item.name}:{key}")
    if ci is not None:
        lines = axes.errorbar(
            [value],
            [y],
            xerr=[[value - ci[0]], [ci[1] - value]],
            fmt="none",
            ecolor="black",
            elinewidth=0.6,
            capsize=1.5,
        )
        lines.lines[2][0].set_gid(f"ci:{item.name}:{key}")


def _decorate(axes: Axes, rows: list[_Row], series: Sequence[BarSeries], title: str) -> None:
    """Labels, the zero line, category separators, legend."""
    from matplotlib.patches import Patch

    axes.axvline(0, color="black", lw=0.6)
    axes.set_yticks(range(len(rows)))
    axes.set_yticklabels([row.label for row in rows])
    for tick, row in zip(axes.get_yticklabels(), rows, strict=True):
        if row.mean:
            tick.set_fontweight("bold")
    for position, row in enumerate(rows[:-1]):
        if row.mean:
            axes.axhline(position + 0.5, color="0.7", lw=0.4)
    axes.invert_yaxis()
    intervals = any(b.overhead_ci95 for item in series for b in item.table.benchmarks)
    ci = ", 95 % CI" if intervals else " (no interval: 1 repetition per side)"
    axes.set_xlabel(f"overhead vs {series[0].table.base} (%){ci}")
    axes.grid(axis="x", color="0.85", lw=0.4)
    axes.set_axisbelow(True)
    if title:
        axes.set_title(title)
    handles = [
        Patch(
            facecolor=PALETTE[i % len(PALETTE)],
            hatch=HATCHES[i % len(HATCHES)],
            edgecolor="black",
            lw=0.4,
            label=item.name,
        )
        for i, item in enumerate(series)
    ]
    axes.legend(handles=handles, loc="lower right", frameon=False)


def draw_along(
    points: Sequence[AlongPoint], parameter: str, path: Path, width_in: float = ONE_COLUMN_IN
) -> Path:
    """A sweep: overhead % against the parameter, one line per benchmark with its CI band,
    the overall mean dashed."""
    if not points:
        raise UsageError(f"nothing to plot along {parameter}: no pairs of variants")
    plt = _pyplot()
    figure = plt.figure(figsize=(width_in, width_in * 0.75), layout="constrained")
    axes = figure.add_subplot(1, 1, 1)
    xs = list(range(len(points)))
    names = list(dict.fromkeys(b.benchmark for p in points for b in p.table.benchmarks))
    for index, name in enumerate(names):
        found = [next((b for b in p.table.benchmarks if b.benchmark == name), None) for p in points]
        _curve(
            axes,
            xs,
            [(b.overhead_pct, b.overhead_ci95) if b else (None, None) for b in found],
            (name, index),
        )
    overall = [
        (p.table.overall.overhead_pct, p.table.overall.overhead_ci95)
        if p.table.overall
        else (None, None)
        for p in points
    ]
    _curve(axes, xs, overall, ("overall mean", -1))
    axes.axhline(0, color="black", lw=0.6)
    axes.set_xticks(xs)
    axes.set_xticklabels([p.value for p in points])
    axes.set_xlabel(parameter)
    axes.set_ylabel(f"overhead vs {points[0].table.base} (%)")
    axes.grid(color="0.85", lw=0.4)
    axes.legend(frameon=False, ncol=2 if len(names) > 4 else 1)
    save(figure, path)
    _close(figure)
    return path


def _curve(
    axes: Axes,
    xs: list[int],
    values: list[tuple[float | None, tuple[float, float] | None]],
    name_index: tuple[str, int],
) -> None:
    """One benchmark's line (points where it has an overhead) and its CI band."""
    name, index = name_index
    kept = [(x, v, ci) for x, (v, ci) in zip(xs, values, strict=True) if v is not None]
    if not kept:
        return
    overall = index < 0
    colour = "black" if overall else PALETTE[index % len(PALETTE)]
    marker = "D" if overall else "osv^<>p"[index % 7]
    axes.plot(
        [x for x, _, _ in kept],
        [v for _, v, _ in kept],
        color=colour,
        ls="--" if overall else "-",
        marker=marker,
        ms=3,
        lw=0.9,
        label=name,
    )[0].set_gid(f"line:{name}")
    band = [(x, ci) for x, _, ci in kept if ci is not None]
    if band:
        axes.fill_between(
            [x for x, _ in band],
            [ci[0] for _, ci in band],
            [ci[1] for _, ci in band],
            color=colour,
            alpha=0.15,
            lw=0,
        ).set_gid(f"band:{name}")


def draw_repetitions(
    values: dict[str, list[float]],
    what: tuple[str, str, str],
    path: Path,
    width_in: float = ONE_COLUMN_IN,
) -> Path:
    """Every repetition of one metric per profile, in the order measured (a strip plot):
    the spread and any drift are visible at a glance."""
    benchmark, metric, unit = what
    if not values:
        raise UsageError(
            f"no repetitions of {benchmark} {metric} in these runs",
            "see the metric names with `sevtui results show RUN`",
        )
    plt = _pyplot()
    figure = plt.figure(figsize=(width_in, width_in * 0.7), layout="constrained")
    axes = figure.add_subplot(1, 1, 1)
    for index, (profile, series) in enumerate(values.items()):
        axes.plot(
            range(1, len(series) + 1),
            series,
            ls="none",
            marker="osv^<>p"[index % 7],
            ms=3,
            color=PALETTE[index % len(PALETTE)],
            label=profile,
        )[0].set_gid(f"points:{profile}")
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("repetition (in the order measured)")
    axes.set_ylabel(f"{metric} ({unit})" if unit else metric)
    axes.set_title(benchmark)
    axes.grid(color="0.85", lw=0.4)
    axes.legend(frameon=False)
    save(figure, path)
    _close(figure)
    return path


def _close(figure: Figure) -> None:
    import matplotlib.pyplot as plt

    plt.close(figure)


@dataclass(frozen=True)
class PlotRequest:
    """What `results plot` draws: KIND into PATH, WIDTH inches wide; `along` names the
    sweep parameter, `metric` (BENCHMARK, METRIC) the repetitions shown."""

    path: Path
    kind: str = "overhead"
    width_in: float = ONE_COLUMN_IN
    along: str = ""
    metric: tuple[str, str] | None = None

    def check(self, others: list[str]) -> None:
        """Refuse a request that cannot be drawn, before any data is read."""
        figure_format(self.path)
        if self.kind not in PLOT_KINDS:
            raise UsageError(f"--kind {self.kind!r}: use one of {', '.join(PLOT_KINDS)}")
        if not 1.5 <= self.width_in <= 20:
            raise UsageError(
                f"--width {self.width_in:g}: a figure is 1.5 to 20 inches wide",
                "3.3 is one column of a two-column paper, 7 a full page width",
            )
        if self.kind == "along" and (not self.along or len(others) != 1):
            raise UsageError("--kind along needs --along PARAM and exactly one --other")
        if self.kind == "by-host" and len(others) != 1:
            raise UsageError("--kind by-host compares one --other on each host")
        if self.kind == "repetitions" and self.metric is None:
            raise UsageError(
                "--kind repetitions needs --benchmark B --metric M",
                "see the metric names with `sevtui results show RUN`",
            )
