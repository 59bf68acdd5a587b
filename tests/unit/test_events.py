"""The run-progress helpers shared by the CLI and the app."""

from __future__ import annotations

import re

import pytest

from sevtui.bench.events import seconds_left


def test_no_estimate_before_the_first_repetition() -> None:
    assert seconds_left(12.0, 0, 10) is None


def test_estimate_follows_the_mean_pace_as_repetitions_are_added() -> None:
    assert seconds_left(30.0, 3, 10) == pytest.approx(70.0)
    assert seconds_left(30.0, 3, 20) == pytest.approx(170.0)
    assert seconds_left(30.0, 10, 10) == 0.0


def test_the_counter_never_counts_work_taken_off_the_plan(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A sweep whose sev-snp variants cannot run here: their close-outs shrink the plan,
    they do not count as done (the counter once went 1/3 ... 4/4)."""
    from sevtui.bench import events
    from sevtui.cli.text import ProgressPrinter

    printer = ProgressPrinter()
    printer(events.RunStarted(1, "sw", ("a", "b", "c", "d"), ("spin",), 4))
    for name in ("b", "d"):
        printer(events.BenchmarkError(name, "-", 0, "unavailable", "no SEV-SNP here"))
    for name in ("a", "c"):
        printer(events.BenchmarkStarted(name, "spin", 1, planned=2))
        printer(events.RepetitionDone(name, "spin", 1, 0.1, {"seconds": 0.1}, 2))
    printer(events.BenchmarkError("c", "spin", 2, "failed", "exited 1"))
    counters = re.findall(r"\[(\d+)/(\d+)", capsys.readouterr().err)
    assert counters == [("0", "2"), ("1", "2"), ("1", "2"), ("2", "2")]
