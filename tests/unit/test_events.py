"""The run-progress helpers shared by the CLI and the app."""

from __future__ import annotations

import pytest

from sevtui.bench.events import seconds_left


def test_no_estimate_before_the_first_repetition() -> None:
    assert seconds_left(12.0, 0, 10) is None


def test_estimate_follows_the_mean_pace_as_repetitions_are_added() -> None:
    assert seconds_left(30.0, 3, 10) == pytest.approx(70.0)
    assert seconds_left(30.0, 3, 20) == pytest.approx(170.0)
    assert seconds_left(30.0, 10, 10) == 0.0
