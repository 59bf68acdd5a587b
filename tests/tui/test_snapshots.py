"""Snapshots of the dashboard, check tree, results and chart (fake data, fixed sizes)."""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot

from sevtui.tui.app import SevtuiApp
from sevtui.tui.results import ResultsScreen
from tests.tui.fakes import FakeSources


def app() -> SevtuiApp:
    return SevtuiApp(FakeSources(), poll=False)


async def settle(pilot: Pilot[None]) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def compared(pilot: Pilot[None]) -> None:
    """Open the results browser and wait until its comparison is on screen and stays the
    same for one more round (runs, then profiles, then the comparison each arrive from a
    worker, and a late selection event may ask for another; a busy machine is slow)."""
    await settle(pilot)
    await pilot.press("r")
    seen = None
    for _ in range(100):
        await settle(pilot)
        screen = pilot.app.screen
        current = screen.comparisons if isinstance(screen, ResultsScreen) else None
        if current is not None and current is seen:
            return
        seen = current
    raise AssertionError("the comparison never arrived (or never settled)")


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_dashboard(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(app(), terminal_size=size, run_before=settle)


def test_check_tree(snap_compare: Any) -> None:
    async def open_checks(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("c")
        await pilot.pause()

    assert snap_compare(app(), terminal_size=(120, 40), run_before=open_checks)


def test_results(snap_compare: Any) -> None:
    assert snap_compare(app(), terminal_size=(120, 40), run_before=compared)


def test_overhead_chart(snap_compare: Any) -> None:
    async def open_chart(pilot: Pilot[None]) -> None:
        await compared(pilot)
        await pilot.press("g")
        await pilot.pause()

    assert snap_compare(app(), terminal_size=(120, 40), run_before=open_chart)


def test_fleet(snap_compare: Any) -> None:
    async def open_fleet(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("f")
        await settle(pilot)

    assert snap_compare(app(), terminal_size=(120, 30), run_before=open_fleet)
