"""Where benchmarks run: this host (the bare-metal baseline) or a guest's console."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sevtui.base.ports import free_port
from sevtui.base.proc import run_with_timeout
from sevtui.vm.remote import Runner

HOST = "host"
VAR_TMP = "/var/tmp"


@dataclass(frozen=True)
class Outcome:
    """Output and exit status of one command in a target."""

    output: str
    status: int


class Target(Protocol):
    """Something that runs a shell script and reports output and status."""

    name: str
    kind: str
    work_dir: str
    alive: bool
    """False once the target stopped answering; the runner then skips it."""
    pids: set[int]
    """Host processes that are the target itself (its QEMU), not load beside it."""
    info: dict[str, Any]
    """What the target is (stored with the run): profile, argv, kernel..."""
    relaunch: Callable[[], dict[str, float]] | None
    """Stop and start the target cold, returning its boot phases (None: not a VM sevtui
    starts, so it has no boot benchmark)."""
    upload: Callable[[Path, str], None] | None
    """Copy a host file to a path in the target (None: no way to, e.g. a console guest)."""

    def run(self, script: str, timeout: float) -> Outcome:
        """Run SCRIPT in a shell; raise CommandTimeout when it overruns."""
        ...

    def close(self) -> None:
        """Release what the target holds (scratch space)."""
        ...


def wrap(work_dir: str, body: str) -> str:
    """Run BODY in the scratch folder with $SEVTUI_WORK set."""
    return f'export SEVTUI_WORK={work_dir}; mkdir -p "$SEVTUI_WORK" && cd "$SEVTUI_WORK" && {body}'


class HostTarget:
    """This machine, measured with the same scripts as the guests."""

    name = HOST
    kind = "host"

    def __init__(self, info: dict[str, Any] | None = None) -> None:
        self.work_dir = tempfile.mkdtemp(prefix="sevtui-bench-", dir=_disk_scratch())
        self.alive = True
        self.pids: set[int] = set()
        self.info = dict(info or {})
        self.relaunch: Callable[[], dict[str, float]] | None = None
        self.upload: Callable[[Path, str], None] | None = _copy

    def run(self, script: str, timeout: float) -> Outcome:
        """sh -c SCRIPT in its own process group, killed as a group on timeout.

        SEVTUI_PORT is a TCP port free right now on 127.0.0.1: a benchmark's server (redis)
        listens there, so two runs on one host never share a port."""
        script = f"export SEVTUI_PORT={free_port()}; {script}"
        done = run_with_timeout(["sh", "-c", script], timeout, merge_stderr=True)
        return Outcome(done.stdout, done.returncode)

    def close(self) -> None:
        """Remove the scratch folder."""
        shutil.rmtree(self.work_dir, ignore_errors=True)


def _disk_scratch() -> str | None:
    """/var/tmp (on disk, by the FHS) when usable, else the default temp folder: the
    host's disk benchmarks then measure a disk, as the guests' do."""
    return VAR_TMP if os.access(VAR_TMP, os.W_OK | os.X_OK) else None


def _copy(local: Path, dest: str) -> None:
    shutil.copyfile(local, dest)


class GuestTarget:
    """A running VM, driven over ssh (cloud guests) or its serial console."""

    kind = "vm"
    work_dir = "/tmp/sevtui-bench"

    def __init__(
        self,
        name: str,
        run: Runner,
        pids: set[int],
        info: dict[str, Any] | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self._run = run
        self._on_close = on_close
        self.alive = True
        self.pids = pids
        self.info = dict(info or {})
        self.relaunch: Callable[[], dict[str, float]] | None = None
        self.upload: Callable[[Path, str], None] | None = None
        self.qemu: tuple[int, float] | None = None
        """The QEMU process (PID, start time) of this launch."""

    def run(self, script: str, timeout: float) -> Outcome:
        """Run SCRIPT in the guest (interrupted on timeout)."""
        output, status = self._run(script, timeout)
        return Outcome(output, status)

    def close(self) -> None:
        """Give the VM back (its lease); the guest's /tmp goes with the guest."""
        if self._on_close is not None:
            self._on_close()
