"""A measured value: what parsers produce and the store keeps (no dependencies either way)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Direction = Literal["lower", "higher"]
MAX_VALUE = 1e15
"""The largest measurement sevtui stores (parsers and merges refuse anything above)."""


@dataclass(frozen=True)
class Value:
    """One measured number. `repetition` numbers the complete program runs in one output."""

    metric: str
    unit: str
    direction: Direction
    value: float
    benchmark: str = ""
    repetition: int = 0
