"""The time-left estimate's pace: measured, or typical scaled by the target's own speed."""

from __future__ import annotations

import pytest

from sevtui.bench.pace import Pace


def fresh() -> Pace:
    return Pace({"a": 1.0, "b": 10.0, "d": 2.0, "custom": None, "boot": 6.0}, {"boot"})


def test_before_anything_is_measured_the_typical_time_holds() -> None:
    pace = fresh()
    assert pace.of(("vm", "a")) == 1.0
    assert pace.of(("vm", "boot")) == 6.0
    assert pace.of(("vm", "custom")) is None, "no typical time, nothing measured"


def test_an_unseen_benchmark_runs_at_its_targets_measured_speed() -> None:
    pace = fresh()
    pace.learn(("vm", "a"), 4.0)
    assert pace.of(("vm", "b")) == pytest.approx(40.0), "4x slower than typical on a"
    assert pace.of(("host", "b")) == 10.0, "another target's speed is not borrowed"
    assert pace.of(("vm", "boot")) == 6.0, "a cold boot is not scaled"
    assert pace.of(("vm", "custom")) == 4.0, "no typical: the mean of what is measured"
    pace.learn(("vm", "b"), 90.0)
    assert pace.of(("vm", "d")) == pytest.approx(2.0 * 6.0), "geometric mean of 4x and 9x"
    pace.learn(("vm", "boot"), 60.0)
    assert pace.of(("vm", "d")) == pytest.approx(12.0), "a boot does not change the speed"


def test_this_runs_repetitions_average_and_replace_an_earlier_runs() -> None:
    pace = fresh()
    pace.remember(("vm", "a"), 100.0)
    assert pace.of(("vm", "a")) == 100.0
    pace.learn(("vm", "a"), 4.0)
    pace.learn(("vm", "a"), 6.0)
    assert pace.of(("vm", "a")) == pytest.approx(5.0)
