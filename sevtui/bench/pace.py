"""How long a repetition takes: the runner's time-left estimate adds these up.

A benchmark this target has run (in this run, else its last run) takes what it took.
One it has never run takes the catalog's typical seconds, scaled by how much slower or
faster than typical this target has been on the benchmarks it did run: a TCG guest is
ten times slower than the host on every benchmark, not on one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

Key = tuple[str, str]
"""(target, benchmark id)."""


@dataclass
class Pace:
    """Seconds per repetition of each (target, benchmark), measured or estimated."""

    typical: dict[str, float | None]
    """Benchmark id -> the catalog's typical seconds on a small host (None: unknown)."""
    unscaled: set[str]
    """Benchmarks whose typical seconds hold on any target (a cold boot is mostly
    firmware and kernel start, not work the guest's speed scales)."""
    seconds: dict[Key, float] = field(default_factory=dict)
    counted: dict[Key, int] = field(default_factory=dict)

    def remember(self, key: Key, seconds: float) -> None:
        """A duration from an earlier run: used until this run measures its own."""
        self.seconds[key] = seconds

    def learn(self, key: Key, seconds: float) -> None:
        """Fold one repetition of this run into its mean (earlier runs' figure dropped)."""
        count = self.counted.get(key, 0)
        previous = self.seconds[key] if count else seconds
        self.seconds[key] = (previous * count + seconds) / (count + 1)
        self.counted[key] = count + 1

    def of(self, key: Key) -> float | None:
        """Seconds one repetition of KEY takes: measured, else typical times the target's
        speed, else the mean of everything measured; None while nothing is known."""
        if key in self.seconds:
            return self.seconds[key]
        typical = self.typical.get(key[1])
        if typical is not None:
            return typical if key[1] in self.unscaled else typical * self._speed(key[0])
        if not self.seconds:
            return None
        return math.fsum(self.seconds.values()) / len(self.seconds)

    def _speed(self, target: str) -> float:
        """Measured over typical seconds, a geometric mean over TARGET's benchmarks; 1
        while it has measured none (another target's speed says nothing about this one:
        a TCG guest beside the host is ten times slower)."""
        ratios = [
            seconds / typical
            for (name, bench_id), seconds in self.seconds.items()
            if name == target
            and bench_id not in self.unscaled
            and (typical := self.typical.get(bench_id))
            and seconds > 0
        ]
        if not ratios:
            return 1.0
        return math.exp(math.fsum(math.log(r) for r in ratios) / len(ratios))
