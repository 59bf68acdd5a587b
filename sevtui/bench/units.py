"""Units sevtui can convert between: times (s, ms, us, ns) and data rates (MB/s, MiB/s, ...)."""

from __future__ import annotations

# Each unit as a multiple of its family's base unit (seconds; bytes per second).
_FACTORS: dict[str, tuple[str, float]] = {
    "s": ("time", 1.0),
    "ms": ("time", 1e-3),
    "us": ("time", 1e-6),
    "µs": ("time", 1e-6),
    "ns": ("time", 1e-9),
    "B/s": ("rate", 1.0),
    "kB/s": ("rate", 1e3),
    "KB/s": ("rate", 1e3),
    "KiB/s": ("rate", 2.0**10),
    "MB/s": ("rate", 1e6),
    "MiB/s": ("rate", 2.0**20),
    "GB/s": ("rate", 1e9),
    "GiB/s": ("rate", 2.0**30),
}


def units_agree(first: str, second: str) -> bool:
    """Same unit, or two units of one family that convert into each other."""
    if first == second:
        return True
    a, b = _FACTORS.get(first), _FACTORS.get(second)
    return a is not None and b is not None and a[0] == b[0]


def convert(value: float, unit: str, to: str) -> float | None:
    """VALUE in UNIT expressed in TO, or None when the two do not convert."""
    if unit == to:
        return value
    if not units_agree(unit, to):
        return None
    return value * _FACTORS[unit][1] / _FACTORS[to][1]
