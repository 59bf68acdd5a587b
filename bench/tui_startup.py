"""Print the app's start-up time to first frame, and its idle CPU and RSS with VMs running.

Runs the installed `sevtui` in tmux (a real terminal), as a user would:
- first frame: from exec of the program (a timestamp the pane's shell writes just before it)
  to the pane titles appearing on the screen, median of N; the same for a bare Textual app
  (bench/bare_textual.py) as the floor this machine sets for any Textual app;
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

SEVTUI = Path(sys.executable).with_name("sevtui")


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout


def launch(command: str, session: str) -> float:
    """Seconds from exec of COMMAND to its first frame with the word "Benchmarks"."""
    stamp = Path(f"/tmp/{session}.t0")
    stamp.unlink(missing_ok=True)
    shell = f"date +%s.%N > {stamp}; exec {command}"
    started = subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "36", shell],
        capture_output=True,
        text=True,
        check=False,
    )
    if started.returncode != 0:
        raise SystemExit(f"tmux could not start {command}: {started.stderr.strip()}")
    deadline = time.monotonic() + 20
    while "Benchmarks" not in tmux("capture-pane", "-p", "-t", session):
        if time.monotonic() > deadline:
            raise SystemExit(f"{command} did not draw within 20 s")
        time.sleep(0.005)
    drawn = time.time()
    execed = float(stamp.read_text())
    stamp.unlink()
    return drawn - execed


def app_process(session: str) -> psutil.Process:
    pane_pid = int(tmux("display-message", "-p", "-t", session, "#{pane_pid}").strip())
    pane = psutil.Process(pane_pid)
    return next(
        (p for p in [pane, *pane.children(recursive=True)] if "sevtui" in " ".join(p.cmdline())),
        pane,
    )


def first_frames(command: str, runs: int) -> list[float]:
    """First-frame times of COMMAND over RUNS launches."""
    frames = []
    for index in range(runs):
        session = f"svtui-{index}"
        frames.append(launch(command, session))
        tmux("kill-session", "-t", session)
    return frames


def idle(config: Path, idle_seconds: float) -> tuple[float, float]:
    """With two VMs running: the app's CPU seconds over IDLE_SECONDS, and its RSS (MiB)."""
    for name in ("demo", "demo2"):
        subprocess.run([*sevtui_argv(config), "vm", "start", name], capture_output=True, check=True)
    session = "svtui-idle"
    launch(f"{SEVTUI} --config {config}", session)
    time.sleep(5)
    proc = app_process(session)
    before = proc.cpu_times()
    time.sleep(idle_seconds)
    after = proc.cpu_times()
    rss = proc.memory_info().rss / 2**20
    tmux("kill-session", "-t", session)
    return (after.user - before.user) + (after.system - before.system), rss


def summary(frames: list[float]) -> str:
    """Median and best of first-frame times."""
    return f"median {statistics.median(frames):.3f} s, min {min(frames):.3f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    args = parser.parse_args()
    bare_app = Path(__file__).with_name("bare_textual.py")
    bare = first_frames(f"{sys.executable} {bare_app}", args.runs)
    with scratch_config({"demo": "256M", "demo2": "256M"}) as config:
        frames = first_frames(f"{SEVTUI} --config {config}", args.runs)
        used, rss = idle(config, args.idle_seconds)
    print(f"first frame, exec -> panes drawn, {args.runs} runs: sevtui {summary(frames)}")
    print(f"  bare Textual app on this machine (the floor): {summary(bare)}")
    print(
        f"idle with two VMs running: {used / args.idle_seconds * 100:.2f} % of a core over "
        f"{args.idle_seconds:.0f} s, RSS {rss:.1f} MiB"
    )


if __name__ == "__main__":
    main()
