"""Host kernel settings a sweep changes (kernel.numa_balancing), always put back.

The first change saves the value and starts a guardian process that holds the read end
of a pipe: when the run ends in any way (done, Ctrl-C, an exception, SIGKILL), the
write end closes and the guardian writes the saved value back. Nothing else restores it,
so a run killed mid-sweep leaves the host as it found it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sevtui.base.errors import SevtuiError

PROC_SYS_ENV = "SEVTUI_PROC_SYS"
"""A folder standing in for /proc/sys (tests: the guardian's restore without touching
the host's kernel)."""
NUMA_BALANCING = "kernel/numa_balancing"


def proc_sys() -> Path:
    """/proc/sys, or the folder SEVTUI_PROC_SYS names."""
    return Path(os.environ.get(PROC_SYS_ENV) or "/proc/sys")


class SettingUnavailable(SevtuiError):
    """The setting cannot be changed here (no root, no such setting)."""


class HostSetting:
    """One /proc/sys setting, changed for a run and restored by a guardian process."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.path = proc_sys() / key
        self._guardian: subprocess.Popen[bytes] | None = None
        self.saved: str | None = None

    def set(self, value: str) -> None:
        """Write VALUE (saving the first value found, and starting the guardian)."""
        if os.geteuid() != 0 and PROC_SYS_ENV not in os.environ:
            raise SettingUnavailable(
                f"setting {self.key.replace('/', '.')} needs root", "run the sweep as root"
            )
        if not self.path.is_file():
            raise SettingUnavailable(
                f"this kernel has no {self.key.replace('/', '.')} (no {self.path})",
                "a kernel built with CONFIG_NUMA_BALANCING has it",
            )
        if self._guardian is None:
            self.saved = self.path.read_text().strip()
            self._guardian = subprocess.Popen(
                [sys.executable, "-m", "sevtui.host.sysctl", str(self.path), self.saved],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.path.write_text(f"{value}\n")

    def restore(self) -> None:
        """Put the saved value back now (the guardian does it) and wait for it."""
        guardian, self._guardian = self._guardian, None
        if guardian is None:
            return
        assert guardian.stdin is not None
        guardian.stdin.close()
        guardian.wait(timeout=30)


def guard(path: Path, saved: str) -> None:
    """Wait until the run's end of the pipe closes, then write SAVED back to PATH."""
    try:
        sys.stdin.buffer.read()
    finally:
        path.write_text(f"{saved}\n")


if __name__ == "__main__":
    guard(Path(sys.argv[1]), sys.argv[2])
