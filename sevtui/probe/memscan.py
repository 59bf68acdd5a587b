"""Find a byte string in another process's memory, fast and without writing it anywhere.

Only resident pages are read (/proc/PID/pagemap says which), with process_vm_readv
into one reused buffer per worker; on a multi-core host the resident runs are split
across forked workers, because bytes.find holds the GIL. A match that spans two
chunks is found once: each chunk re-reads the needle's length minus one.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")
CHUNK = 64 << 20
PARALLEL_MIN_BYTES = 256 << 20
_PRESENT = bytes(0x01 if byte & 0xC0 else 0x00 for byte in range(256))
_RUN = re.compile(b"\x01+")


class _IoVec(ctypes.Structure):
    _fields_ = (("base", ctypes.c_void_p), ("len", ctypes.c_size_t))


_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_LIBC.process_vm_readv.restype = ctypes.c_ssize_t
_LIBC.process_vm_readv.argtypes = (
    ctypes.c_int,
    ctypes.POINTER(_IoVec),
    ctypes.c_ulong,
    ctypes.POINTER(_IoVec),
    ctypes.c_ulong,
    ctypes.c_ulong,
)


@dataclass(frozen=True)
class Area:
    """A mapping to search, with a printable name."""

    start: int
    end: int
    name: str


@dataclass
class Found:
    """What a search found, and how much it read."""

    hits: int = 0
    locations: list[tuple[Area, int]] = field(default_factory=list)
    bytes_read: int = 0
    unreadable: int = 0

    def merge(self, other: Found) -> None:
        """Add another worker's findings."""
        self.hits += other.hits
        self.locations += other.locations
        self.bytes_read += other.bytes_read
        self.unreadable += other.unreadable


def resident_runs(pid: int, area: Area) -> list[tuple[int, int]]:
    """(start, end) address runs of AREA whose pages are present or swapped."""
    runs: list[tuple[int, int]] = []
    entries_per_read = 1 << 20
    with open(f"/proc/{pid}/pagemap", "rb", buffering=0) as pagemap:
        first = area.start // PAGE
        last = area.end // PAGE
        index = first
        while index < last:
            count = min(entries_per_read, last - index)
            pagemap.seek(index * 8)
            raw = pagemap.read(count * 8)
            flags = raw[7::8].translate(_PRESENT)
            for match in _RUN.finditer(flags):
                start = (index + match.start()) * PAGE
                end = (index + match.end()) * PAGE
                if runs and runs[-1][1] == start:
                    runs[-1] = (runs[-1][0], end)
                else:
                    runs.append((start, end))
            index += count
    return runs


def read_remote(pid: int, address: int, into: int, size: int) -> int:
    """process_vm_readv SIZE bytes at remote ADDRESS to local address INTO; 0 on a hole."""
    local = _IoVec(into, size)
    remote = _IoVec(address, size)
    done = _LIBC.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    if done < 0:
        error = ctypes.get_errno()
        if error in (1, 13):  # EPERM, EACCES: not ours to read
            raise PermissionError(error, os.strerror(error))
        if error == 3:  # ESRCH
            raise ProcessLookupError(error, os.strerror(error))
        return 0
    return int(done)


Reader = Callable[[int, int, int], int]
"""read(source_offset, buffer_offset, size) -> bytes read into the shared buffer (0: a hole)."""


def _search_span(
    read: Reader, buffer: bytearray, needle: bytes, area: Area, span: range, found: Found
) -> None:
    """Search SPAN chunk by chunk, carrying len(needle)-1 bytes across chunks."""
    start, end = span.start, span.stop
    overlap = len(needle) - 1
    chunk = len(buffer) - overlap
    carried = 0
    offset = start
    while offset < end:
        size = min(chunk, end - offset)
        got = read(offset, carried, size)
        if got <= 0:
            found.unreadable += size
            offset += size
            carried = 0
            continue
        window = carried + got
        base = offset - carried
        at = buffer.find(needle, 0, window)
        while at != -1:
            found.hits += 1
            if len(found.locations) < 20:
                found.locations.append((area, base + at - area.start))
            at = buffer.find(needle, at + 1, window)
        found.bytes_read += got
        offset += got
        carried = min(overlap, window)
        buffer[:carried] = buffer[window - carried : window]


def search_runs(
    pid: int, needle: bytes, runs: list[tuple[Area, int, int]], chunk: int = CHUNK
) -> Found:
    """Search address runs (area, start, end) of process PID for NEEDLE."""
    found = Found()
    buffer = bytearray(chunk + len(needle) - 1)
    address = ctypes.addressof((ctypes.c_char * len(buffer)).from_buffer(buffer))

    def read(offset: int, into: int, size: int) -> int:
        return read_remote(pid, offset, address + into, size)

    for area, start, end in runs:
        _search_span(read, buffer, needle, area, range(start, end), found)
    return found


def search_file(path: Path, needle: bytes, chunk: int = CHUNK) -> Found:
    """Search a whole file (a core dump) for NEEDLE, with the same chunking as memory."""
    found = Found()
    buffer = bytearray(chunk + len(needle) - 1)
    view = memoryview(buffer)
    size = path.stat().st_size
    fd = os.open(path, os.O_RDONLY)
    try:

        def read(offset: int, into: int, length: int) -> int:
            return os.preadv(fd, [view[into : into + length]], offset)

        _search_span(read, buffer, needle, Area(0, size, path.name), range(size), found)
    finally:
        view.release()
        os.close(fd)
    return found


def search(pid: int, needle: bytes, areas: list[Area], chunk: int = CHUNK) -> Found:
    """Search the resident parts of AREAS, on every core when there is enough to read."""
    runs = [(area, start, end) for area in areas for start, end in resident_runs(pid, area)]
    total = sum(end - start for _a, start, end in runs)
    workers = min(os.cpu_count() or 1, 8)
    if workers < 2 or total < PARALLEL_MIN_BYTES:
        return search_runs(pid, needle, runs, chunk)
    shares = _split(runs, total, workers, len(needle) - 1)
    context = multiprocessing.get_context("fork")
    with context.Pool(workers) as pool:
        parts = pool.starmap(search_runs, [(pid, needle, share, chunk) for share in shares])
    result = Found()
    for part in parts:
        result.merge(part)
    return result


def _split(
    runs: list[tuple[Area, int, int]], total: int, workers: int, overlap: int
) -> list[list[tuple[Area, int, int]]]:
    """WORKERS shares of about equal bytes; a piece cut inside a run reads OVERLAP bytes on,
    so a match straddling the cut is found by exactly one worker."""
    target = -(-total // workers)
    target += -target % PAGE
    shares: list[list[tuple[Area, int, int]]] = [[] for _ in range(workers)]
    index, filled = 0, 0
    for area, start, end in runs:
        cursor = start
        while cursor < end:
            last = index == workers - 1
            take = end - cursor if last else min(end - cursor, target - filled)
            stop = cursor + take
            shares[index].append((area, cursor, min(end, stop + overlap) if stop < end else stop))
            cursor, filled = stop, filled + take
            if filled >= target and not last:
                index, filled = index + 1, 0
    return [share for share in shares if share]
