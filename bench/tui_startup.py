"""Print the app's start-up time to first frame, and its idle CPU and RSS with VMs running.

Runs the installed `sevtui` in tmux (a real terminal), as a user would:
- first frame: from launching the process to the pane titles appearing (median of N);
- idle: with two demo VMs running, the app's CPU % over 60 s and its RSS.
Usage: python bench/tui_startup.py [--runs N] [--idle-seconds S]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil
from harness import scratch_config, sevtui_argv


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout


def launch(config: Path, session: str) -> float:
    """Seconds from launch to the first frame with the three panes."""
    sevtui = str(Path(sys.executable).with_name("sevtui"))
    started = time.monotonic()
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "36", f"{sevtui} --config {config}")
    while "Benchmarks" not in tmux("capture-pane", "-p", "-t", session):
        if time.monotonic() - started > 20:
            raise SystemExit("the app did not draw within 20 s")
        time.sleep(0.005)
    return time.monotonic() - started


def app_process(session: str) -> psutil.Process:
    pane_pid = int(tmux("display-message", "-p", "-t", session, "#{pane_pid}").strip())
    pane = psutil.Process(pane_pid)
    return next(
        (p for p in [pane, *pane.children(recursive=True)] if "sevtui" in " ".join(p.cmdline())),
        pane,
    )


def measure(config: Path, runs: int, idle_seconds: float) -> tuple[list[float], float, float]:
    """First-frame times; then, with two VMs running, CPU seconds used idle and RSS (MiB)."""
    frames = []
    for index in range(runs):
        session = f"svtui-{index}"
        frames.append(launch(config, session))
        tmux("kill-session", "-t", session)
    for name in ("demo", "demo2"):
        subprocess.run([*sevtui_argv(config), "vm", "start", name], capture_output=True, check=True)
    session = "svtui-idle"
    launch(config, session)
    time.sleep(5)
    proc = app_process(session)
    before = proc.cpu_times()
    time.sleep(idle_seconds)
    after = proc.cpu_times()
    rss = proc.memory_info().rss / 2**20
    tmux("kill-session", "-t", session)
    return frames, (after.user - before.user) + (after.system - before.system), rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    args = parser.parse_args()
    with scratch_config({"demo": "256M", "demo2": "256M"}) as config:
        frames, used, rss = measure(config, args.runs, args.idle_seconds)
    print(
        f"first frame (launch -> panes drawn): median {statistics.median(frames):.3f} s, "
        f"min {min(frames):.3f} s over {args.runs} runs"
    )
    print(
        f"idle with two VMs running: {used / args.idle_seconds * 100:.2f} % of a core over "
        f"{args.idle_seconds:.0f} s, RSS {rss:.1f} MiB"
    )


if __name__ == "__main__":
    main()
