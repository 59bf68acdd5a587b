"""Signals reach only the processes they are meant for: a PID that another process took
over (pid_max can be 32768) is never signalled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from sevtui.base.proc import stop_group
from sevtui.vm.lifecycle import _signal, _wait_gone


def test_an_exited_process_is_gone_and_not_signalled_again() -> None:
    child = subprocess.Popen(["sleep", "30"])
    process = psutil.Process(child.pid)
    child.kill()
    child.wait()
    assert _wait_gone(process, 1.0)
    _signal(process, signal.SIGTERM)  # its PID is free or someone else's: nothing is sent


def test_a_new_process_under_an_old_pid_is_not_the_one_signalled() -> None:
    """psutil identifies a process by PID and start time (its `_ident`): the same PID
    with another start time is someone else."""
    bystander = subprocess.Popen(["sleep", "30"])
    try:
        process = psutil.Process(bystander.pid)
        # As if the PID had been reused: the handle remembers an older start time.
        vars(process)["_ident"] = (bystander.pid, process.create_time() - 100)
        _signal(process, signal.SIGTERM)
        assert _wait_gone(process, 0.2), "not the process this handle was taken of"
        assert bystander.poll() is None, "the bystander got no signal"
    finally:
        bystander.kill()
        bystander.wait()


def test_stopping_a_group_kills_what_its_leader_leaves_behind(tmp_path: Path) -> None:
    """The leader dies at SIGTERM; a member ignoring SIGTERM gets the SIGKILL, sent while
    the leader is still unreaped (so the group id is still this group's)."""
    pid_file = tmp_path / "member.pid"
    script = (
        "import os, signal, subprocess, sys, time\n"
        "member = subprocess.Popen([sys.executable, '-c', "
        "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(member.pid))\n"
        "time.sleep(60)\n"
    )
    leader = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    deadline = time.monotonic() + 10
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    member = int(pid_file.read_text())
    time.sleep(0.3)  # the member has set its handler
    stop_group(leader)
    assert leader.returncode == -signal.SIGTERM
    deadline = time.monotonic() + 5
    while psutil.pid_exists(member) and psutil.Process(member).status() != "zombie":
        assert time.monotonic() < deadline, "the member survived"
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{leader.pid}/status") or leader.returncode is not None
