"""Private state folders that sevtui, running as root, can trust.

A folder is trusted only when it is a real directory (not a symbolic link), owned by the
current user and not writable by group or others; only then can nobody else have put a
file (or a link) into it. Files inside are opened relative to the folder's descriptor
with O_NOFOLLOW, written through a fresh O_EXCL temporary and renamed into place, and
read only when they are regular files that we own.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

from sevtui.base.errors import SevtuiError

MAX_STATE_FILE = 4 << 20


class UntrustedState(SevtuiError):
    """A state folder or file another user could have written: refused, nothing done."""


def _why_untrusted(path: Path, info: os.stat_result, kind: str) -> str | None:
    if stat.S_ISLNK(info.st_mode):
        return f"{path} is a symbolic link"
    wanted = stat.S_ISDIR if kind == "directory" else stat.S_ISREG
    if not wanted(info.st_mode):
        return f"{path} is not a {kind}"
    if info.st_uid != os.getuid():
        return f"{path} is owned by uid {info.st_uid}, not by you (uid {os.getuid()})"
    if info.st_mode & 0o022:
        return f"{path} is writable by group or others (mode {stat.S_IMODE(info.st_mode):o})"
    return None


def _refuse(why: str, path: Path) -> UntrustedState:
    return UntrustedState(
        f"refusing to use {path}: {why}",
        f"remove it (as root: rm -rf {path}) and let sevtui create it again; "
        "state folders must belong to the user running sevtui and be private",
    )


def private_dir(path: Path, create: bool = True, levels: int = 3) -> None:
    """Make sure PATH and its LEVELS-1 parents are trusted folders, creating them 0700.

    LEVELS covers the folders sevtui owns (state_dir, state_dir/vms, state_dir/vms/NAME);
    folders above them are the user's choice.
    """
    chain = [path, *list(path.parents)[: levels - 1]]
    for folder in reversed(chain):
        try:
            info = os.lstat(folder)
        except (FileNotFoundError, NotADirectoryError):
            if not create:
                return
            info = _make(folder)
        why = _why_untrusted(folder, info, "directory")
        if why:
            raise _refuse(why, folder)


def _make(folder: Path) -> os.stat_result:
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(folder, 0o700)
        return os.lstat(folder)
    except OSError as exc:
        raise SevtuiError(
            f"cannot prepare state dir {folder}: {exc.strerror or exc}",
            "check that paths.state_dir is a writable folder and the disk is not full",
        ) from None


@contextlib.contextmanager
def opened(path: Path) -> Iterator[int]:
    """A descriptor of trusted folder PATH (opened without following a link)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        raise _refuse(exc.strerror or str(exc), path) from None
    try:
        why = _why_untrusted(path, os.fstat(fd), "directory")
        if why:
            raise _refuse(why, path)
        yield fd
    finally:
        os.close(fd)


def read(folder: Path, name: str) -> bytes | None:
    """The content of FOLDER/NAME (its first MAX_STATE_FILE bytes), None when missing."""
    return _read_end(folder, name, MAX_STATE_FILE, from_end=False)


def write(folder: Path, name: str, data: bytes, mode: int = 0o600) -> None:
    """Replace FOLDER/NAME with DATA atomically; never writes through a link."""
    with opened(folder) as dir_fd:
        temporary = f".{name}.{secrets.token_hex(4)}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        fd = os.open(temporary, flags, mode, dir_fd=dir_fd)
        try:
            os.write(fd, data)
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
        os.replace(temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)


def remove(folder: Path, *names: str) -> None:
    """Remove entries of FOLDER (a link is removed itself, never its target)."""
    with opened(folder) as dir_fd:
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=dir_fd)


def touch(folder: Path, name: str) -> None:
    """An empty private marker file FOLDER/NAME."""
    write(folder, name, b"")


def tail(folder: Path, name: str, limit: int = 64 << 10) -> bytes:
    """The last LIMIT bytes of FOLDER/NAME (b"" when missing); refused when not ours."""
    return _read_end(folder, name, limit, from_end=True) or b""


def _read_end(folder: Path, name: str, limit: int, from_end: bool) -> bytes | None:
    """Up to LIMIT bytes from the start (or the end) of a trusted regular file."""
    if not folder.exists():
        return None
    with opened(folder) as dir_fd:
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _refuse(exc.strerror or str(exc), folder / name) from None
        try:
            info = os.fstat(fd)
            why = _why_untrusted(folder / name, info, "regular file")
            if why:
                raise _refuse(why, folder / name)
            if from_end:
                os.lseek(fd, max(info.st_size - limit, 0), os.SEEK_SET)
            return os.read(fd, limit)
        finally:
            os.close(fd)
