"""Snapshots of the dashboard, check tree, results and chart (fake data, fixed sizes)."""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot

from sevtui.tui.app import SevtuiApp
from tests.tui.fakes import FakeSources


def app() -> SevtuiApp:
    return SevtuiApp(FakeSources(), poll=False)


async def settle(pilot: Pilot[None]) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


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
    async def open_results(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        await settle(pilot)

    assert snap_compare(app(), terminal_size=(120, 40), run_before=open_results)


def test_overhead_chart(snap_compare: Any) -> None:
    async def open_chart(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        await settle(pilot)
        await pilot.press("g")
        await pilot.pause()

    assert snap_compare(app(), terminal_size=(120, 40), run_before=open_chart)
