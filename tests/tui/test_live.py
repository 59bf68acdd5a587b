"""The app against the real core: QEMU under TCG, real benchmarks, a real terminal."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from textual.message import Message

from sevtui.bench.events import BenchmarkError
from sevtui.config import Config
from sevtui.session import Session
from sevtui.tui.app import SevtuiApp
from sevtui.tui.dashboard import VmTable
from sevtui.tui.messages import BenchProgress

pytestmark = pytest.mark.slow


def test_start_and_stop_the_demo_vm_from_the_vms_pane(vm_config: Config) -> None:
    app = SevtuiApp(Session(vm_config), poll=False)

    async def run() -> None:
        async with app.run_test(size=(120, 36)) as pilot:
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            table = app.query_one(VmTable)
            assert table.row_name() == "demo"
            await pilot.press("s")
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            pid = int(str(table.get_cell("demo", "PID")))
            assert str(table.get_cell("demo", "state")) == "running"
            assert Path(psutil.Process(pid).exe()).name.startswith("qemu-system")
            await pilot.press("x")
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert str(table.get_cell("demo", "state")) == "stopped"
            assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"

    asyncio.run(run())


def test_a_quick_benchmark_streams_progress(vm_config: Config) -> None:
    vm_config.bench.warmup = 0
    vm_config.bench.max_repetitions = 1
    seen: list[str] = []
    errors: list[str] = []

    def hook(message: Message) -> None:
        if isinstance(message, BenchProgress):
            seen.append(type(message.event).__name__)
            if isinstance(message.event, BenchmarkError):
                errors.append(f"{message.event.benchmark}: {message.event.message}")

    app = SevtuiApp(Session(vm_config), poll=False)

    async def run() -> None:
        async with app.run_test(size=(120, 36), message_hook=hook) as pilot:
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.press("b")
            await app.workers.wait_for_complete()
            await pilot.pause()
            await pilot.press("space")
            app.screen.query_one("#repetitions").value = "1"  # type: ignore[attr-defined]
            await pilot.press("ctrl+s")
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()

    asyncio.run(run())
    assert seen[0] == "RunStarted" and seen[-1] == "RunFinished"
    # The first target is the host: all of the quick suite runs there but what needs a
    # VM: boot, net-quick (no NIC to a guest) and exits (build-quick compiles Lua,
    # fio-quick writes to /var/tmp).
    assert seen.count("RepetitionDone") == 7, errors
    assert seen.count("BenchmarkUnavailable") == 3


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout


def wait_screen(session: str, text: str, seconds: float) -> str:
    deadline = time.monotonic() + seconds
    screen = ""
    while time.monotonic() < deadline:
        screen = tmux("capture-pane", "-p", "-t", session)
        if text in screen:
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not on screen after {seconds} s:\n{screen}")


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is installed by make test")
def test_tmux_end_to_end(vm_config_file: Path) -> None:
    session = f"sevtui-e2e-{vm_config_file.parent.name}"
    sevtui_bin = Path(sys.executable).with_name("sevtui")
    done = vm_config_file.parent / "exit-status"
    command = f"{sevtui_bin} --config {vm_config_file}; echo $? > {done}"
    tmux("new-session", "-d", "-s", session, "-x", "110", "-y", "32", command)
    try:
        screen = wait_screen(session, "Benchmarks", 15)
        assert "Host" in screen and "VMs" in screen
        wait_screen(session, "demo", 10)
        tmux("send-keys", "-t", session, "s")
        row = re.compile(r"│\s*demo\s+running\s+(\d+)")
        deadline = time.monotonic() + 60
        while not (match := row.search(tmux("capture-pane", "-p", "-t", session))):
            assert time.monotonic() < deadline, "demo never showed as running with a PID"
            time.sleep(0.2)
        pid = int(match.group(1))
        assert Path(psutil.Process(pid).exe()).name.startswith("qemu-system")
        tmux("send-keys", "-t", session, "x")
        deadline = time.monotonic() + 20
        while psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie":
            assert time.monotonic() < deadline, "x did not stop the VM"
            time.sleep(0.2)
        tmux("send-keys", "-t", session, "r")
        wait_screen(session, "Runs", 10)
        tmux("send-keys", "-t", session, "Escape")
        time.sleep(0.5)
        tmux("send-keys", "-t", session, "q")
        deadline = time.monotonic() + 10
        while not done.exists():
            assert time.monotonic() < deadline, "sevtui did not exit on q"
            time.sleep(0.1)
        assert done.read_text().strip() == "0"
        assert "Traceback" not in tmux("capture-pane", "-p", "-t", session)
    finally:
        tmux("kill-session", "-t", session)
