"""Leases: a benchmark run marks the VMs it uses, so other sevtui processes ask first.

The lease is `lease.json` in the VM's private state folder, naming the run and the
process holding it. It counts only while that process lives (same PID and start time),
so a run killed with SIGKILL leaves no VM locked.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sevtui.base import statedir
from sevtui.base.errors import SevtuiError
from sevtui.base.proc import process_started

LEASE = "lease.json"


def take(folder: Path, run_id: int, label: str) -> None:
    """Mark the VM whose state folder is FOLDER as used by run RUN_ID of this process."""
    pid = os.getpid()
    record = {"pid": pid, "started": process_started(pid), "run": run_id, "label": label}
    statedir.write(folder, LEASE, json.dumps(record, allow_nan=False).encode())


def release(folder: Path) -> None:
    """Drop this process's lease (another process's lease is left alone)."""
    record = _read(folder)
    if record is not None and record.get("pid") == os.getpid():
        statedir.remove(folder, LEASE)


def refuse_held(folder: Path, name: str) -> None:
    """Refuse to act on VM NAME while a benchmark run holds it (the run would fail)."""
    user = holder(folder)
    if user:
        raise SevtuiError(
            f"{name} is in use by {user}",
            "stop the run first (t in the app, Ctrl-C where it runs)",
            cli_hint="--force stops the VM anyway",
        )


def holder(folder: Path) -> str | None:
    """Who holds a live lease on the VM, in words; None when nobody does."""
    record = _read(folder)
    if record is None:
        return None
    pid, started = record.get("pid"), record.get("started")
    if not isinstance(pid, int) or not isinstance(started, int | float):
        return None
    now = process_started(pid)
    if now is None or abs(now - started) > 1:
        return None
    return f"benchmark run {record.get('run')} {record.get('label')!r} (PID {pid})"


def _read(folder: Path) -> dict[str, object] | None:
    try:
        raw = statedir.read(folder, LEASE)
        data = json.loads(raw) if raw else None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
