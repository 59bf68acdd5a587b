"""Judgement of where compared work ran: whether a guest confirmed its configured kind,
and the warnings a reader must see before trusting a comparison (different media,
unconfirmed modes, a busy host). The store holds the facts; this module judges them."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from sevtui.store.db import Store
from sevtui.store.rows import StoredFacts


@dataclass(frozen=True)
class ModeFact:
    """A VM target's configured kind and the mode its guest confirmed, with the reason."""

    configured: str
    confirmed: str
    reason: str
    attested: str | None = None
    """The run's attestation status (verified, failed, inconclusive); None: not asked."""

    @property
    def unconfirmed(self) -> bool:
        """True when the guest did not confirm the configured kind (for SEV-SNP: or its
        attestation did not verify)."""
        if self.configured == "sev-snp" and self.attested not in (None, "verified"):
            return True
        expected = "none" if self.configured == "nosev" else self.configured
        return self.confirmed != expected

    def to_json(self) -> dict[str, Any]:
        """JSON of compare/show."""
        return {
            "configured_mode": self.configured,
            "confirmed_mode": self.confirmed,
            "attested": self.attested,
            "unconfirmed": self.unconfirmed,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class RunFacts:
    """Where the compared work ran: each target's work-folder medium, busy repetitions."""

    media: dict[str, str] = field(default_factory=dict)
    busy: dict[tuple[str, str], int] = field(default_factory=dict)
    modes: dict[str, ModeFact] = field(default_factory=dict)
    run_modes: frozenset[str] = frozenset()
    """How the measured runs shared the host: interleaved and/or concurrent."""

    @property
    def run_mode(self) -> str | None:
        """The one way the runs were measured, or None (imported only, or mixed)."""
        return next(iter(self.run_modes)) if len(self.run_modes) == 1 else None

    def mode_json(self, target: str) -> dict[str, Any] | None:
        """A VM target's configured kind and what its guest confirmed (None: not a VM)."""
        fact = self.modes.get(target)
        return fact.to_json() if fact is not None else None

    def media_differ(self, base: str, other: str) -> bool:
        """True when both media are known and one is RAM while the other is a disk."""
        kinds = {self.media.get(base, "unknown"), self.media.get(other, "unknown")}
        return kinds == {"ram", "disk"}

    def warnings(self, base: str, other: str) -> list[str]:
        """What a reader must know before trusting the table."""
        found = []
        if self.media_differ(base, other):
            found.append(
                f"io rows compare different media: {base} worked on {self.media[base]}, "
                f"{other} on {self.media[other]} (flag 'media')"
            )
        for name in (base, other):
            fact = self.modes.get(name)
            if fact is not None and fact.unconfirmed:
                attested = f", attestation {fact.attested}" if fact.attested else ""
                found.append(
                    f"{name} is configured as {fact.configured} but its guest confirmed "
                    f"{fact.confirmed} ({fact.reason}{attested}): unconfirmed"
                )
        busy = sum(n for (target, _b), n in self.busy.items() if target in (base, other))
        if busy:
            found.append(
                f"{busy} repetitions ran while another process used more than 20 % of a "
                "host core (flag 'busy')"
            )
        return found


def mode_fact(info: dict[str, Any]) -> ModeFact | None:
    """The ModeFact of a run target's info, when its guest was asked (results show and
    compare judge "unconfirmed" by this one rule)."""
    word = info.get("guest_word")
    if not isinstance(word, dict):
        return None
    attestation = info.get("attestation")
    return ModeFact(
        str(info.get("kind", "unknown")),
        str(word.get("confirmed_mode", "inconclusive")),
        str(word.get("confirmed_reason", "")),
        str(attestation.get("status")) if isinstance(attestation, dict) else None,
    )


def judged(stored: StoredFacts) -> RunFacts:
    """RunFacts from what the database holds: media and modes per target ("mixed" where
    runs disagree), busy repetitions, run modes."""
    media: dict[str, str] = {}
    modes: dict[str, ModeFact] = {}
    for target, info in stored.targets:
        medium = info.get("work_media")
        if isinstance(medium, str):
            media[target] = medium if media.get(target, medium) == medium else "mixed"
        mode = mode_fact(info)
        if mode is not None:
            seen = modes.get(target, mode)
            modes[target] = mode if seen == mode else replace(mode, confirmed="mixed")
    return RunFacts(media, dict(stored.busy), modes, stored.run_modes)


def run_facts(store: Store, run_ids: list[int]) -> RunFacts:
    """The judged facts of these runs."""
    return judged(store.stored_facts(run_ids))
