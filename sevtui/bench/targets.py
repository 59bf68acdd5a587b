"""Where benchmarks run: this host (the bare-metal baseline) or a guest's console."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Any, Protocol

from sevtui.errors import SevtuiError
from sevtui.vm.remote import RemoteTimeout, Runner

HOST = "host"


class TargetTimeout(SevtuiError):
    """A command overran its timeout and was killed; `partial_output` is what it printed."""

    def __init__(self, message: str, partial_output: str) -> None:
        super().__init__(message)
        self.partial_output = partial_output


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

    def run(self, script: str, timeout: float) -> Outcome:
        """Run SCRIPT in a shell; raise TargetTimeout when it overruns."""
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
        self.work_dir = tempfile.mkdtemp(prefix="sevtui-bench-")
        self.alive = True
        self.pids: set[int] = set()
        self.info = dict(info or {})

    def run(self, script: str, timeout: float) -> Outcome:
        """sh -c SCRIPT in its own process group, killed as a group on timeout."""
        proc = subprocess.Popen(
            ["sh", "-c", script],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            raise TargetTimeout(
                f"timed out after {timeout:g} s", out.decode(errors="replace")
            ) from None
        return Outcome(out.decode(errors="replace"), proc.returncode)

    def close(self) -> None:
        """Remove the scratch folder."""
        shutil.rmtree(self.work_dir, ignore_errors=True)


class GuestTarget:
    """A running VM, driven over ssh (cloud guests) or its serial console."""

    kind = "vm"
    work_dir = "/tmp/sevtui-bench"

    def __init__(
        self, name: str, run: Runner, pids: set[int], info: dict[str, Any] | None = None
    ) -> None:
        self.name = name
        self._run = run
        self.alive = True
        self.pids = pids
        self.info = dict(info or {})

    def run(self, script: str, timeout: float) -> Outcome:
        """Run SCRIPT in the guest (interrupted on timeout)."""
        try:
            output, status = self._run(script, timeout)
        except RemoteTimeout as exc:
            raise TargetTimeout(f"timed out after {timeout:g} s", exc.partial_output) from None
        return Outcome(output, status)

    def close(self) -> None:
        """Nothing to release: the guest's /tmp goes with the guest."""
