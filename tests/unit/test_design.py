"""The experiment design end to end in the comparison: units converted before anything
is computed, launches as the unit of replication, trend flags, BH-adjusted marks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sevtui.bench.results import build_comparison
from sevtui.store.rows import Series
from tests.unit.test_stats import fieller_by_hand

BASE_S = [10.0, 10.4, 9.8, 10.1, 9.9]


def series(
    target: str,
    metric: str,
    unit: str,
    values: list[float],
    launch_of: Callable[[int], int] = lambda _i: 1,
) -> Series:
    reps = {(1, i + 1): v for i, v in enumerate(values)}
    launches = {(1, i + 1): launch_of(i) for i in range(len(values))}
    return Series(target, "b", "cpu", metric, unit, "lower", reps, launches)


def test_ms_against_s_gives_the_same_figure_and_interval_at_every_level() -> None:
    """Base in ms, other in s, two metrics each +10 %: rows, benchmark, category and
    overall all say +10.00 % with the same interval (no unit mix-up, no widening)."""
    other_s = [v * 1.1 for v in [10.1, 10.2, 9.7, 10.3, 9.8]]
    data = [series("base", metric, "ms", [v * 1000 for v in BASE_S]) for metric in ("m1", "m2")] + [
        series("other", metric, "s", other_s) for metric in ("m1", "m2")
    ]
    table = build_comparison(data, "base", "other", 3.5)
    low, high = fieller_by_hand(BASE_S, other_s)
    expected = ((low - 1) * 100, (high - 1) * 100)
    ratio = (sum(other_s) / sum(BASE_S) - 1) * 100
    for row in table.rows:
        assert row.comparison.overhead_pct == pytest.approx(ratio)
        assert row.comparison.overhead_ci95 == pytest.approx(expected)
    (bench,) = table.benchmarks
    assert bench.overhead_pct == pytest.approx(ratio)
    assert bench.overhead_ci95 == pytest.approx(expected)
    assert table.categories["cpu"].overhead_pct == pytest.approx(ratio)
    assert table.overall is not None and table.overall.overhead_pct == pytest.approx(ratio)


def test_launches_are_the_unit_and_their_share_of_variance_is_reported() -> None:
    base = [10.0, 10.1, 10.2, 11.0, 11.1, 11.2]
    other = [11.0, 11.1, 11.2, 12.2, 12.3, 12.4]
    data = [
        series("base", "t", "s", base, lambda i: i // 3 + 1),
        series("other", "t", "s", other, lambda i: i // 3 + 1),
    ]
    table = build_comparison(data, "base", "other", 3.5)
    (row,) = table.rows
    assert (row.comparison.unit, row.comparison.units) == ("launch", (2, 2))
    low, high = fieller_by_hand([10.1, 11.1], [11.1, 12.3])
    assert row.comparison.overhead_ci95 == pytest.approx(((low - 1) * 100, (high - 1) * 100))
    (bench,) = table.benchmarks
    # by hand: launch means 10.1 and 11.1, within-launch variance 0.01; MSB = 3 * 0.5 = 1.5,
    # sigma2_launch = (1.5 - 0.01) / 3; share = that / (that + 0.01)
    between = (1.5 - 0.01) / 3
    assert bench.launch_share["base"] == pytest.approx(between / (between + 0.01))


def test_a_drifting_series_is_flagged_and_left_out_of_the_means() -> None:
    steady = [10.0, 10.3, 9.8, 10.1, 9.9, 10.2, 10.0, 9.7]
    drifting = [10.0, 10.5, 11.0, 11.5, 12.0, 12.5, 13.0, 13.5]
    data = [
        Series(
            "base",
            "steady",
            "cpu",
            "t",
            "s",
            "lower",
            {(1, i + 1): v for i, v in enumerate(steady)},
        ),
        Series(
            "other",
            "steady",
            "cpu",
            "t",
            "s",
            "lower",
            {(1, i + 1): v * 1.1 for i, v in enumerate(steady)},
        ),
        Series(
            "base", "drift", "cpu", "t", "s", "lower", {(1, i + 1): v for i, v in enumerate(steady)}
        ),
        Series(
            "other",
            "drift",
            "cpu",
            "t",
            "s",
            "lower",
            {(1, i + 1): v for i, v in enumerate(drifting)},
        ),
    ]
    table = build_comparison(data, "base", "other", 3.5)
    flags = {row.benchmark: row.flags for row in table.rows}
    assert "trend" in flags["drift"] and "trend" not in flags["steady"]
    cpu = table.categories["cpu"]
    assert cpu.excluded == (("drift", "flagged trend"),)
    assert cpu.n_benchmarks == 1
    assert cpu.overhead_pct == pytest.approx(10.0)


def test_significance_marks_use_benjamini_hochberg_adjusted_p() -> None:
    data = []
    for k, shift in enumerate([1.0, 1.0, 1.0, 1.03]):
        values = [10.0, 10.2, 9.8, 10.1, 9.9]
        data.append(
            Series(
                "base",
                f"b{k}",
                "cpu",
                "t",
                "s",
                "lower",
                {(1, i + 1): v for i, v in enumerate(values)},
            )
        )
        other = [v * shift + 0.05 * ((i * 7 + k) % 3 - 1) for i, v in enumerate(values)]
        data.append(
            Series(
                "other",
                f"b{k}",
                "cpu",
                "t",
                "s",
                "lower",
                {(1, i + 1): v for i, v in enumerate(other)},
            )
        )
    table = build_comparison(data, "base", "other", 3.5)
    for row in table.rows:
        c = row.comparison
        assert c.p_value is not None and c.p_adjusted is not None
        assert c.p_adjusted >= c.p_value
        assert c.significant == (c.p_adjusted < 0.05)


def test_the_markdown_export_renders_its_tables_after_the_warnings() -> None:
    """A real Markdown parser (markdown-it, GFM tables): the warnings are a quote of
    their own and both tables are tables, not quoted text."""
    from markdown_it import MarkdownIt

    from sevtui.bench.facts import RunFacts
    from sevtui.bench.results import ComparisonSet

    data = [
        Series(
            "base", "fio", "io", "t", "s", "lower", {(1, i + 1): v for i, v in enumerate(BASE_S)}
        ),
        Series(
            "other",
            "fio",
            "io",
            "t",
            "s",
            "lower",
            {(1, i + 1): v * 1.2 for i, v in enumerate(BASE_S)},
        ),
    ]
    facts = RunFacts(media={"base": "ram", "other": "disk"})
    table = build_comparison(data, "base", "other", 3.5, facts=facts)
    assert table.warnings
    tokens = (
        MarkdownIt("commonmark").enable("table").parse(ComparisonSet("base", [table]).to_markdown())
    )
    tables = [t for t in tokens if t.type == "table_open"]
    assert len(tables) == 2 and all(t.level == 0 for t in tables), "tables outside any quote"
    quotes = [t for t in tokens if t.type == "blockquote_open"]
    assert len(quotes) == 1
    cells = [t.content for t in tokens if t.type == "inline"]
    assert "fio" in cells and any("media" in cell for cell in cells)


def test_start_blockers_name_what_keeps_a_stopped_vm_from_starting(tmp_path: Path) -> None:
    from sevtui.config import load_config
    from sevtui.session import Session

    config = tmp_path / "config.toml"
    config.write_text(
        f'[paths]\ndata_dir = "{tmp_path / "d"}"\nstate_dir = "{tmp_path / "s"}"\n'
        f'image_dir = "{tmp_path / "no-images"}"\n[qemu]\naccel = "tcg"\n'
        '[vm.demo]\nkind = "nosev"\nmemory = "256M"\n'
        '[vm.huge]\nkind = "nosev"\nmemory = "64T"\n'
    )
    blocked = Session(load_config(config).config).start_blockers()
    assert "the minimal guest image is not built" in blocked["demo"]
    assert "huge" in blocked


def test_the_text_table_keeps_the_interval_apart_from_the_marks_and_unit(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from sevtui.bench.results import ComparisonSet
    from sevtui.cli.text import print_comparisons

    other = [v * 16.0 for v in BASE_S]
    data = [
        Series(
            "base", "b", "cpu", "t", "s", "lower", {(1, i + 1): v for i, v in enumerate(BASE_S)}
        ),
        Series(
            "other", "b", "cpu", "t", "s", "lower", {(1, i + 1): v for i, v in enumerate(other)}
        ),
    ]
    print_comparisons(ComparisonSet("base", [build_comparison(data, "base", "other", 3.5)]))
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("H b"))
    ci = line.split("%")[1].split()[0]
    assert ".." in ci and line.rstrip().endswith(" s"), line
    assert f"{ci} *" in line, "the interval, a space, then the marks"
