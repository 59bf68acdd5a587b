"""One line of the capability check tree (shared by the check builders)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Status = Literal["pass", "fail", "warn", "skip"]


@dataclass
class Check:
    """One line of the check tree."""

    id: str
    title: str
    status: Status
    evidence: str
    hint: str = ""
    parent: str | None = None
    short: str = ""

    def to_json(self) -> dict[str, Any]:
        """Stable JSON form (keys may be added, not renamed)."""
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "evidence": self.evidence,
            "hint": self.hint,
            "parent": self.parent,
        }
