"""Run a helper program to completion: argv list, no stdin, clear errors on failure."""

from __future__ import annotations

import subprocess
from pathlib import Path

from sevtui.errors import SevtuiError


def run_checked(
    argv: list[str], what: str, hint: str = "", cwd: Path | None = None, timeout: float = 600
) -> str:
    """ARGV's stdout; SevtuiError naming WHAT (with stderr's tail) when it fails."""
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SevtuiError(f"{what} failed: {exc}", hint) from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip()[-300:]
        raise SevtuiError(f"{what} failed (exit {done.returncode}): {tail}", hint)
    return done.stdout
