"""Files a user names as input (reports, certificates, chains): read safely as root.

Each is opened without blocking (a FIFO cannot hang sevtui), must be a regular file,
and is read up to a size cap (/dev/zero or a huge sparse file cannot eat the memory).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sevtui.base.errors import UsageError


def read_input(path: Path, what: str, limit: int) -> bytes:
    """The content of regular file PATH, at most LIMIT bytes, or a clear UsageError."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"{what} {path} is not a regular file", f"pass the {what} as a file")
        if info.st_size > limit:
            raise UsageError(
                f"{what} {path} has {info.st_size} bytes, more than a {what} can have "
                f"({limit} at most)",
                f"pass the {what} itself",
            )
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 16, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if total > limit:
        raise UsageError(f"{what} {path} is longer than {limit} bytes", f"pass the {what} itself")
    return b"".join(chunks)
