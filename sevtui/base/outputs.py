"""Files a user names as output (figures, reports): written safely as root.

The last path component is opened without following a link and must be (or become) a
regular file: a link planted where a figure is to go cannot redirect the write, and a
FIFO or device cannot hang or swallow it. Folders a report creates are checked alike.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sevtui.base.errors import UsageError


def write_output(path: Path, data: bytes, what: str = "output") -> Path:
    """Write DATA to PATH (replacing a regular file's content); a clear UsageError when
    PATH is a link, not a regular file, or cannot be written."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        raise UsageError(
            f"cannot write {what} {path}: {_why(path) or exc.strerror or exc}", "name another file"
        ) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UsageError(f"cannot write {what} {path}: not a regular file", "name a file")
        os.ftruncate(fd, 0)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError as exc:
        raise UsageError(f"cannot write {what} {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    return path


def _why(path: Path) -> str:
    """What is in the way at PATH (empty when nothing explains the failure)."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return ""
    if stat.S_ISLNK(mode):
        return "it is a symbolic link"
    return "" if stat.S_ISREG(mode) else "not a regular file"


def output_folder(path: Path) -> Path:
    """PATH as a real folder (created when missing), never a link to one."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        info = os.lstat(path)
    except OSError as exc:
        raise UsageError(f"cannot create folder {path}: {exc.strerror or exc}") from None
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise UsageError(f"{path} is not a folder (a link or a file)", "name a new folder")
    return path
