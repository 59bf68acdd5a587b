"""Watch over one QEMU process: run it, outlive sevtui, and record how it ended.

Run as `python -m sevtui.vm.supervise STATE_DIR -- QEMU_ARGV...` in a new
session. It starts QEMU with its output going to files in STATE_DIR, waits
for it, and writes `exit.json` (exit code or signal, time), so a VM that dies
while no sevtui is running is still reported as crashed or shut off later.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sevtui.base import statedir


def supervise(state_dir: Path, argv: list[str]) -> int:
    """Run QEMU to completion and record its exit; returns QEMU's exit code."""
    os.umask(0o077)
    for sig in (signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW
    out = os.open(state_dir / "stdout.log", flags, 0o600)
    err = os.open(state_dir / "stderr.log", flags, 0o600)
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    finally:
        os.close(out)
        os.close(err)

    def forward(signum: int, _frame: object) -> None:
        proc.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    code = proc.wait()
    record = {
        "returncode": code,
        "signal": -code if code < 0 else None,
        "at": time.time(),
        "qemu_pid": proc.pid,
    }
    statedir.write(state_dir, "exit.json", json.dumps(record, allow_nan=False).encode())
    return code


def main() -> int:
    """Entry point: STATE_DIR -- ARGV..."""
    args = sys.argv[1:]
    if len(args) < 3 or args[1] != "--":
        print("usage: python -m sevtui.vm.supervise STATE_DIR -- QEMU_ARGV...", file=sys.stderr)
        return 2
    return supervise(Path(args[0]), args[2:])


if __name__ == "__main__":
    raise SystemExit(main())
