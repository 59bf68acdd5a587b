"""A horizontal bar chart as text: one row per bar, its label on the same row, at any width.

plotext drops tick labels when bars outnumber rows, so a label could sit on another
bar; here every bar has its own row and label, and the chart scrolls instead of
squeezing. Bars grow from a zero axis, right for positive and left for negative values.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text

PROFILE_STYLES = ("red", "blue", "magenta", "yellow", "cyan", "green")
MIN_LABEL = 8


@dataclass(frozen=True)
class Bar:
    """One bar: the group it belongs to (a benchmark), the series (a profile), its value."""

    group: str
    series: str
    value: float | None


def render_bars(bars: list[Bar], width: int, unit: str = "%") -> list[Text]:
    """Rows of text, one per bar; the group label on its first bar's row."""
    if not bars:
        return [Text("nothing to chart")]
    several = len({bar.series for bar in bars}) > 1
    group_width = max(MIN_LABEL, min(max(len(b.group) for b in bars), width // 3))
    series_width = max(len(b.series) for b in bars) if several else 0
    value_width = 10
    plot = max(width - group_width - (series_width + 1 if several else 0) - value_width - 3, 4)
    values = [b.value for b in bars if b.value is not None]
    low, high = min(0.0, *values) if values else 0.0, max(0.0, *values) if values else 0.0
    span = (high - low) or 1.0
    zero = round(-low / span * plot)
    styles = {
        series: PROFILE_STYLES[i % len(PROFILE_STYLES)]
        for i, series in enumerate(dict.fromkeys(b.series for b in bars))
    }
    rows: list[Text] = []
    previous = None
    for bar in bars:
        label = bar.group if bar.group != previous else ""
        previous = bar.group
        row = Text(_fit(label, group_width).ljust(group_width) + " ")
        if several:
            row.append(bar.series[:series_width].ljust(series_width) + " ", styles[bar.series])
        row.append_text(_bar(bar.value, zero, plot, span, styles[bar.series]))
        shown = "n/a" if bar.value is None else f"{bar.value:+.1f}{unit}"
        row.append(" " + shown.rjust(value_width))
        rows.append(row)
    return rows


def _bar(value: float | None, zero: int, plot: int, span: float, style: str) -> Text:
    cells = [" "] * plot
    if zero < plot:
        cells[zero] = "│"
    text = Text()
    if value is None:
        return Text("".join(cells))
    length = round(abs(value) / span * plot)
    start, end = (zero, zero + length) if value >= 0 else (zero - length, zero)
    text.append("".join(cells[: max(start, 0)]))
    text.append("█" * (min(end, plot) - max(start, 0)), style)
    text.append("".join(cells[min(end, plot) :]))
    return text


def _fit(label: str, width: int) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"
