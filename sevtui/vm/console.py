"""The guest's serial console: run a command and get its output and exit status.

QEMU serves the console socket to one client at a time, so every user takes
`console.lock` first. Commands are framed by markers the guest prints with
printf, so the echoed command line can never be mistaken for its output.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import select
import shlex
import socket
import sys
import termios
import time
import tty
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pexpect
import pexpect.fdpexpect

from sevtui.base.errors import CommandTimeout, SevtuiError
from sevtui.vm.spec import VmPaths

DETACH_KEY = b"\x1d"  # Ctrl-]
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass(frozen=True)
class ExecResult:
    """A command's output (\\r removed) and exit status in the guest."""

    output: str
    status: int
    seconds: float


@contextmanager
def console_lock(paths: VmPaths, wait_s: float) -> Iterator[None]:
    """Hold the VM's console exclusively, waiting up to WAIT_S for another user."""
    lock_path = paths.root / "console.lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise SevtuiError(
                        "the guest console is busy (another sevtui command or a "
                        "`sevtui vm console` session holds it)",
                        "wait for it to finish, or detach the console session (Ctrl-])",
                    ) from None
                time.sleep(0.1)
        yield
    finally:
        os.close(fd)


def _connect(paths: VmPaths) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(paths.serial))
    except OSError as exc:
        sock.close()
        raise SevtuiError(
            f"cannot reach the guest console at {paths.serial}: {exc.strerror or exc}",
            "is the VM running? sevtui vm list",
        ) from None
    return sock


MAX_LINE = 600
"""A busybox shell's line editor keeps 1023 characters of a line and drops the rest:
longer commands are written to a file in the guest, piece by piece, then run."""
PIECE = 120
"""Characters of a staged command per line: quoting may grow a piece fivefold."""


def _stage(child: pexpect.fdpexpect.fdspawn, command: str, staged: str, nonce: str) -> None:
    """COMMAND into the guest file STAGED, one short line at a time, each acknowledged."""
    for index in range(0, len(command), PIECE):
        piece = shlex.quote(command[index : index + PIECE])
        child.send(f"printf '%s' {piece} >> {staged}; printf '%s%s\\n' SVC_ {nonce}\n")
        child.expect_exact(f"SVC_{nonce}\r\n")


def run(
    paths: VmPaths,
    command: str,
    timeout: float = 60.0,
    lock_wait_s: float = 30.0,
    quiet: bool = False,
) -> ExecResult:
    """Run COMMAND in the guest shell on the serial console.

    QUIET turns the guest terminal's echo off first (and waits until it is off), so the
    command itself never reaches the console or serial.log: for secrets.
    """
    if "\n" in command or "\r" in command:
        raise SevtuiError("a guest command must be a single line", "join the lines with ;")
    nonce = secrets.token_hex(6)
    begin, end = f"SVB_{nonce}", f"SVE_{nonce}"
    staged = f"/tmp/.sevtui-{nonce}.sh"
    body = command if len(command) <= MAX_LINE else f"sh {staged}; s=$?; rm -f {staged}; exit $s"
    line = f"printf '%s%s\\n' SVB_ {nonce}; ( {body} ); printf '%s%s:%s\\n' SVE_ {nonce} $?"
    with console_lock(paths, lock_wait_s):
        sock = _connect(paths)
        started = time.monotonic()
        try:
            child = pexpect.fdpexpect.fdspawn(
                sock.fileno(), timeout=timeout, encoding="utf-8", codec_errors="replace"
            )
            child.send("\n")
            if quiet:
                child.send(f"stty -echo; printf '%s%s\\n' SVQ_ {nonce}\n")
                child.expect_exact(f"SVQ_{nonce}\r\n")
            if body != command:
                _stage(child, command, staged, nonce)
            child.send(line + "\n")
            child.expect_exact(begin + "\r\n")
            child.expect(re.escape(end) + r":(\d+)")
            output = _ANSI.sub("", child.before or "").replace("\r", "")
            status = int(child.match.group(1))
            if quiet:
                child.send("stty echo\n")
        except pexpect.TIMEOUT:
            partial = _ANSI.sub("", str(child.before or "")).replace("\r", "")
            child.send("\x03")
            raise CommandTimeout(
                f"the guest command did not finish within {timeout:g} s: {command[:80]}",
                partial,
                "raise the timeout, or check the guest console log",
            ) from None
        except pexpect.EOF:
            raise SevtuiError("the guest console closed (did the VM stop?)") from None
        finally:
            sock.close()
    return ExecResult(output, status, time.monotonic() - started)


def attach(paths: VmPaths) -> None:
    """Interactive console on this terminal until Ctrl-] (the console log keeps everything)."""
    if not sys.stdin.isatty():
        raise SevtuiError("`vm console` needs a terminal", "use `sevtui vm exec` from scripts")
    with console_lock(paths, 1.0):
        sock = _connect(paths)
        stdin = sys.stdin.fileno()
        saved = termios.tcgetattr(stdin)
        print("connected to the guest console; Ctrl-] detaches\r", flush=True)
        try:
            tty.setraw(stdin)
            sock.sendall(b"\n")
            _relay(sock, stdin)
        finally:
            termios.tcsetattr(stdin, termios.TCSADRAIN, saved)
            sock.close()
    print("\ndetached")


def _relay(sock: socket.socket, stdin: int) -> None:
    stdout = sys.stdout.fileno()
    while True:
        ready, _, _ = select.select([sock.fileno(), stdin], [], [])
        if sock.fileno() in ready:
            data = sock.recv(65536)
            if not data:
                return
            os.write(stdout, data)
        if stdin in ready:
            data = os.read(stdin, 1024)
            if DETACH_KEY in data:
                sock.sendall(data.split(DETACH_KEY)[0])
                return
            sock.sendall(data)
