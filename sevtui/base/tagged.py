"""Values a guest-side script prints as `PREFIXkey=value` lines among other output."""

from __future__ import annotations


def tagged_values(output: str, prefix: str) -> dict[str, str]:
    """KEY -> VALUE of every line starting with PREFIX (a bare `PREFIXkey` gives '')."""
    values: dict[str, str] = {}
    for raw in output.splitlines():
        line = raw.strip()
        if line.startswith(prefix):
            key, _, value = line.removeprefix(prefix).partition("=")
            values[key] = value.strip()
    return values
