"""Run a helper program: argv list, stdin from a file or none, its own process group killed
at the deadline."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from sevtui.base.errors import CommandTimeout, SevtuiError


@dataclass(frozen=True)
class Finished:
    """A program that ended by itself: exit status and output (stderr in stdout if merged)."""

    returncode: int
    stdout: str
    stderr: str


def run_with_timeout(
    argv: list[str],
    timeout: float,
    *,
    merge_stderr: bool = False,
    cwd: Path | None = None,
    stdin: Path | None = None,
) -> Finished:
    """Run ARGV in a new session (STDIN: a file to read from); at TIMEOUT kill its whole
    process group.

    Raises CommandTimeout (with what it printed so far) when the deadline passes, and
    SevtuiError when the program cannot be started at all.
    """
    try:
        with contextlib.ExitStack() as opened:
            source = opened.enter_context(stdin.open("rb")) if stdin else subprocess.DEVNULL
            proc = subprocess.Popen(
                argv,
                cwd=cwd,
                stdin=source,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
                start_new_session=True,
            )
    except OSError as exc:
        raise SevtuiError(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        raise CommandTimeout(
            f"{Path(argv[0]).name} timed out after {timeout:g} s", _text(out)
        ) from None
    except BaseException:
        # Interrupted (Ctrl-C, SIGTERM turned into an exception): the program goes too.
        # SIGTERM first, so a script can take down what it started in other process
        # groups (a benchmark under setsid), then SIGKILL for whatever is left.
        stop_group(proc)
        raise
    return Finished(proc.returncode, _text(out), _text(err))


STOP_GRACE_S = 2.0


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to PROC's process group, SIGKILL after STOP_GRACE_S; then reap PROC.

    PROC is reaped last: while it is an unreaped zombie its PID (the group's id) cannot
    go to another process, so the SIGKILL reaches this group and no one else's."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    while time.monotonic() < deadline and not _exited(proc.pid):
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _exited(pid: int) -> bool:
    """True when child PID has exited, without reaping it."""
    try:
        found = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return found is not None


def _text(data: bytes | None) -> str:
    return data.decode(errors="replace") if data else ""


def run_checked(
    argv: list[str],
    what: str,
    hint: str = "",
    cwd: Path | None = None,
    timeout: float = 600,
    stdin: Path | None = None,
) -> str:
    """ARGV's stdout; SevtuiError naming WHAT (with stderr's tail) when it fails."""
    try:
        done = run_with_timeout(argv, timeout, cwd=cwd, stdin=stdin)
    except SevtuiError as exc:
        raise SevtuiError(f"{what} failed: {exc.message}", hint) from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip()[-300:]
        raise SevtuiError(f"{what} failed (exit {done.returncode}): {tail}", hint)
    return done.stdout


def pid_alive(pid: int) -> bool:
    """True while process PID exists (even when it belongs to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_started(pid: int | None) -> float | None:
    """When process PID started (seconds since the epoch), None when it is gone."""
    if pid is None:
        return None
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


@contextlib.contextmanager
def signals_handled(
    handler: Callable[[int, FrameType | None], None], *signals: signal.Signals
) -> Iterator[None]:
    """HANDLER answers SIGNALS inside the block (the main thread only: elsewhere Python
    cannot install handlers, and the block runs as it is); the old handlers return after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield
    finally:
        for sig, previous in saved.items():
            signal.signal(sig, previous)
