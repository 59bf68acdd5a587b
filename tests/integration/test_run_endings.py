"""Runs that end badly, on the host target with the real CLI: SIGTERM and SIGHUP end a
run `interrupted` with its processes and files gone; --events files are checked before a
run starts; two runs on one host never share a redis port; a sweep refuses what it
cannot start before it starts anything."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import sevtui

HOLD = "echo $SEVTUI_WORK > {marker}; sleep 987654"


def _config(tmp_path: Path, command: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[paths]\ndata_dir = "{tmp_path / "data"}"\nstate_dir = "{tmp_path / "st"}"\n'
        f'[benchmark.hold]\ncategory = "cpu"\ncommand = "{command}"\n'
        '[suites]\nhold = ["hold"]\n'
    )
    return path


def _wait_for(condition: object, what: str, limit: float = 120) -> None:
    """Poll CONDITION (a callable) until true; fail naming WHAT after LIMIT seconds."""
    deadline = time.monotonic() + limit
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _holders() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["cmdline"]) if "987654" in (p.info["cmdline"] or [])]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_ends_the_run_interrupted_and_cleans_up(
    tmp_path: Path, sig: signal.Signals
) -> None:
    marker = tmp_path / "work-dir"
    config = _config(tmp_path, HOLD.format(marker=marker))
    argv = [sys.executable, "-m", "sevtui", "--config", str(config), "bench", "run"]
    argv += ["--vm", "host", "--suite", "hold", "--repetitions", "1", "--warmup", "0"]
    run = subprocess.Popen(
        [*argv, "--label", "sig"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(lambda: marker.exists() and _holders(), "the benchmark to start")
        work = Path(marker.read_text().strip())
        run.send_signal(sig)
        _, err = run.communicate(timeout=60)
    finally:
        run.kill()
    assert run.returncode == 130, err
    assert f"stopped by {sig.name}" in err
    _wait_for(lambda: not _holders(), "the benchmark's process group to be gone", 10)
    assert not work.exists(), "the work folder is removed"
    shown = json.loads(sevtui(config, "results", "show", "sig", "--json").stdout)
    assert shown["runs"][0]["status"] == "interrupted"
    assert shown["runs"][0]["reason"] == f"stopped by {sig.name}"


@pytest.mark.parametrize(
    ("events", "why"),
    [
        ("folder", "it is a folder"),
        ("missing/e.jsonl", "the folder"),
        ("/dev/full", "it is not a regular file"),
        ("fifo", "it is not a regular file"),
        ("link", "it is a symbolic link"),
    ],
)
def test_a_bad_events_file_is_refused_before_the_run_starts(
    tmp_path: Path, events: str, why: str
) -> None:
    config = _config(tmp_path, "true")
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link").symlink_to(tmp_path / "target.jsonl")
    path = events if events.startswith("/") else str(tmp_path / events)
    done = sevtui(
        config, "bench", "run", "--vm", "host", "--suite", "hold", "--events", path, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert f"--events {path}: {why}" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "target.jsonl").exists(), "the link was not followed"
    listed = json.loads(sevtui(config, "results", "list", "--json").stdout)
    assert listed == [], "no run was created"


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")
def test_two_runs_on_one_host_use_their_own_redis_ports(tmp_path: Path) -> None:
    configs = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        path = folder / "config.toml"
        path.write_text(f'[paths]\ndata_dir = "{folder / "data"}"\nstate_dir = "{folder / "st"}"\n')
        configs.append(path)
    args = ["bench", "run", "--vm", "host", "--suite", "quick", "--repetitions", "1"]
    args += ["--warmup", "0", "--label", "redis"]
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "sevtui", "--config", str(path), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in configs
    ]
    for run in runs:
        _, err = run.communicate(timeout=900)
    for path in configs:
        shown = json.loads(sevtui(path, "results", "show", "redis", "--json").stdout)
        redis = [r for r in shown["problems"] if r["benchmark"] == "redis-quick"]
        assert redis == [], redis
        assert any(m["benchmark"] == "redis-quick" for m in shown["metrics"]), err


def test_a_sweep_without_its_guest_image_is_refused_up_front(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[paths]\ndata_dir = "{tmp_path / "data"}"\nstate_dir = "{tmp_path / "st"}"\n'
        f'image_dir = "{tmp_path / "no-images"}"\n[qemu]\naccel = "tcg"\n'
        '[vm.demo]\nkind = "nosev"\nmemory = "256M"\n'
    )
    done = sevtui(
        config, "bench", "sweep", "--vm", "demo", "--vary", "vcpus=1,2", "--suite", "quick"
    )
    assert done.returncode == 2, done.stderr
    assert "cannot sweep demo: the minimal guest image is not built" in done.stderr
    assert "sevtui image build" in done.stderr
    assert json.loads(sevtui(config, "results", "list", "--json").stdout) == []


def test_equal_sweep_values_are_refused(tmp_path: Path) -> None:
    config = _config(tmp_path, "true")
    config.write_text(config.read_text() + '[vm.demo]\nkind = "nosev"\nmemory = "256M"\n')
    done = sevtui(config, "bench", "sweep", "--vm", "demo", "--vary", "memory=256M,262144K")
    assert done.returncode == 2
    assert "--vary memory: 256M and 262144K are the same value" in done.stderr


def test_a_run_says_its_plan_and_estimate_before_it_starts(tmp_path: Path) -> None:
    config = _config(tmp_path, "sleep 0.2")
    args = ["bench", "run", "--vm", "host", "--suite", "hold", "--repetitions", "2"]
    first = sevtui(config, *args, "--label", "p1", "--warmup", "0", "--seed", "3", timeout=120)
    assert first.returncode == 0, first.stderr
    plan = [line for line in first.stderr.splitlines() if line.startswith("plan: ")]
    assert plan[0] == (
        "plan: 'p1': 1 benchmarks of suite hold on host; 1 launch(es) x 2 repetitions, "
        "0 warm-up, random order (seed 3)"
    )
    assert "estimate: none yet" in first.stderr
    assert first.stderr.index("plan: ") < first.stderr.index("run 1 'p1'"), "said before"
    again = sevtui(config, *args, "--label", "p2", "--warmup", "0", timeout=120)
    assert "plan: estimate: about " in again.stderr and "from earlier runs" in again.stderr


def test_details_and_raw_output_of_a_run(tmp_path: Path) -> None:
    config = _config(tmp_path, "echo hello-from-the-benchmark")
    args = ["bench", "run", "--vm", "host", "--suite", "hold", "--repetitions", "2"]
    assert sevtui(config, *args, "--label", "d", "--warmup", "0", timeout=120).returncode == 0
    shown = sevtui(config, "results", "show", "d", "--details")
    assert shown.returncode == 0, shown.stderr
    assert "host_kernel:" in shown.stdout and "design: 1 launches x 2 repetitions" in shown.stdout
    table = shown.stdout.split("rep launch order")[1]
    rows = [line.split() for line in table.splitlines() if line.startswith("  host ")]
    assert [row[2:4] for row in rows if row[1] == "hold"] == [["1", "1"], ["2", "1"]]
    output = sevtui(config, "results", "output", "1", "host", "hold", "2")
    assert output.returncode == 0 and "hello-from-the-benchmark" in output.stdout
    missing = sevtui(config, "results", "output", "1", "host", "hold", "9")
    assert missing.returncode == 2 and "has no repetition 9 of hold on host" in missing.stderr
