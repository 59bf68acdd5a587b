"""Sizes ('512M', '16G') and durations as people read them; light, so the app can use it early."""

from __future__ import annotations

import re

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


MAX_SIZE = 1 << 46
"""64 TiB: more memory than any host sevtui can run on has."""
_NOT_A_SIZE = "not a size: use a number with K, M, G or T (e.g. 512M, 16G)"


def parse_size(value: object) -> int:
    """Turn '512M', '16G', '1.5GiB' into bytes; a bare number is MiB, as QEMU's -m reads it."""
    if isinstance(value, bool):
        raise ValueError(_NOT_A_SIZE)
    if isinstance(value, int):
        return _bounded(value << 20)
    if isinstance(value, str):
        match = _SIZE_RE.match(value)
        if match:
            number, unit, byte_suffix = match.groups()
            bare = not unit and not byte_suffix
            scaled = float(number) * _SIZE_UNITS["M" if bare else unit.upper()]
            if scaled > MAX_SIZE:
                raise ValueError(f"{value.strip()[:40]!r} is larger than {MAX_SIZE >> 40} TiB")
            return _bounded(int(scaled))
    raise ValueError(_NOT_A_SIZE)


def _bounded(size: int) -> int:
    if size <= 0:
        raise ValueError("a size must be positive")
    if size > MAX_SIZE:
        raise ValueError(f"{size} bytes is larger than {MAX_SIZE >> 40} TiB")
    return size


def format_size(size: int) -> str:
    """Bytes back to the shortest exact '16G' / '512M' form."""
    for unit in ("T", "G", "M", "K"):
        if size % _SIZE_UNITS[unit] == 0:
            return f"{size // _SIZE_UNITS[unit]}{unit}"
    return f"{size}B"


def format_duration(seconds: float) -> str:
    """H:MM:SS, or M:SS under an hour."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
