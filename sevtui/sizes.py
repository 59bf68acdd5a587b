"""Sizes ('512M', '16G') and durations as people read them; light, so the app can use it early."""

from __future__ import annotations

import re

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(value: object) -> int:
    """Turn '512M', '16G', '1.5GiB' or a byte count into bytes."""
    if isinstance(value, bool):
        raise ValueError("not a size: use a number with K, M, G or T (e.g. 512M, 16G)")
    if isinstance(value, int):
        if value <= 0:
            raise ValueError("a size must be positive")
        return value
    if isinstance(value, str):
        match = _SIZE_RE.match(value)
        if match:
            number, unit = match.groups()
            size = int(float(number) * _SIZE_UNITS[unit.upper()])
            if size > 0:
                return size
    raise ValueError("not a size: use a number with K, M, G or T (e.g. 512M, 16G)")


def format_size(size: int) -> str:
    """Bytes back to the shortest exact '16G' / '512M' form."""
    for unit in ("T", "G", "M", "K"):
        if size % _SIZE_UNITS[unit] == 0:
            return f"{size // _SIZE_UNITS[unit]}{unit}"
    return str(size)


def format_duration(seconds: float) -> str:
    """H:MM:SS, or M:SS under an hour."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
