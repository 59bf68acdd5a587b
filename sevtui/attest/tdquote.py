"""Intel TDX quotes (versions 4 and 5): told from SEV-SNP reports by their own header,
verified to Intel's root with dcap-qvl (loaded only here) against collateral (PCK CRLs,
TCB info, QE identity) as of a chosen time, and checked for the caller's nonce.

dcap-qvl checks the quote's signature chain to Intel's SGX root CA, the collateral's
signatures and validity window, and gives the TCB status with its advisory IDs.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sevtui.base.errors import UsageError
from sevtui.base.inputs import read_input

TEE_TDX = 0x81
QUOTE_VERSIONS = (4, 5)
HEADER_SIZE = 48
UP_TO_DATE = "UpToDate"
QuoteStatus = Literal["verified", "failed"]
_MEASUREMENTS = (
    ("mrtd", "mr_td"),
    ("rtmr0", "rt_mr0"),
    ("rtmr1", "rt_mr1"),
    ("rtmr2", "rt_mr2"),
    ("rtmr3", "rt_mr3"),
    ("mrconfigid", "mr_config_id"),
    ("mrowner", "mr_owner"),
    ("mrownerconfig", "mr_owner_config"),
    ("td_attributes", "td_attributes"),
    ("report_data", "report_data"),
)


def quote_report_data(raw: bytes) -> bytes:
    """The 64-byte report data of TD quote RAW (its TD report body starts after the header,
    and in version 5 after a 6-byte body descriptor too)."""
    start = HEADER_SIZE + (6 if raw[0] == 5 else 0) + 520
    return raw[start : start + 64]


def is_td_quote(raw: bytes) -> bool:
    """Does RAW start like a TD quote (version 4 or 5, TEE type TDX)?"""
    if len(raw) < HEADER_SIZE:
        return False
    version, _key_type, tee_type = struct.unpack_from("<HHI", raw)
    return version in QUOTE_VERSIONS and tee_type == TEE_TDX


@dataclass
class TdQuoteResult:
    """A TD quote's verification: `verified` only when the quote chains to Intel's root
    with collateral valid at the time asked and (when given) carries the nonce."""

    status: QuoteStatus
    reasons: list[str] = field(default_factory=list)
    tcb_status: str = ""
    advisories: list[str] = field(default_factory=list)
    version: int = 0
    fields: dict[str, str] = field(default_factory=dict)
    """MRTD, RTMR0-3, the measured IDs, TD attributes and report data, in hex."""
    at: str = ""
    nonce_matches: bool | None = None
    collateral_source: str = "the file given"

    @property
    def verified(self) -> bool:
        """True when everything checked."""
        return self.status == "verified"

    def to_json(self) -> dict[str, Any]:
        """The `attest verify --json` document of a TD quote."""
        return {
            "kind": "tdx-quote",
            "status": self.status,
            "reasons": self.reasons,
            "tcb_status": self.tcb_status,
            "advisory_ids": self.advisories,
            "quote_version": self.version,
            "verified_at": self.at,
            "nonce_matches": self.nonce_matches,
            "collateral_source": self.collateral_source,
            **self.fields,
        }


MAX_COLLATERAL_BYTES = 1 << 20


def as_td_quote(data: bytes) -> bytes | None:
    """DATA (binary, or hex text) as a TD quote's bytes; None when it is not one."""
    if is_td_quote(data):
        return data
    text = b"".join(data.split())
    try:
        raw = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None
    return raw if is_td_quote(raw) else None


def verify_file(
    quote: bytes, collateral: Path | str, at: str | None, nonce: str | None
) -> TdQuoteResult:
    """`attest verify QUOTE [--collateral FILE] [--at TIME] [--nonce HEX]`: COLLATERAL is
    the file given, or the JSON text fetched (or cached) for the quote's platform."""
    wanted = None
    if nonce is not None:
        try:
            wanted = bytes.fromhex(nonce)
        except ValueError:
            raise UsageError(f"--nonce {nonce!r}: not hex", "pass the nonce's hex digits") from None
    if isinstance(collateral, Path):
        collateral = read_input(collateral, "collateral", MAX_COLLATERAL_BYTES).decode(
            errors="replace"
        )
    when = parse_time(at) if at is not None else None
    return verify_quote(quote, collateral, when, wanted)


def parse_time(text: str) -> int:
    """ISO 8601 (`2025-07-01T00:00:00Z`, a date, or with an offset) as Unix seconds."""
    from datetime import UTC, datetime

    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--at {text!r}: not an ISO 8601 time", "e.g. --at 2025-07-01T00:00:00Z"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp())


def verify_quote(
    raw: bytes, collateral: str, at: int | None = None, nonce: bytes | None = None
) -> TdQuoteResult:
    """Verify the TD quote RAW against COLLATERAL (dcap-qvl's JSON) as of AT (Unix time,
    default now); NONCE, when given, must be the quote's report data (a nonce shorter
    than its 64 bytes padded with zero bytes, as configfs-tsm pads it)."""
    import dcap_qvl

    when = int(time.time()) if at is None else at
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
    try:
        quote = dcap_qvl.parse_quote(raw)
    except ValueError as exc:
        raise UsageError(f"not a TD quote dcap-qvl can read: {exc}") from None
    try:
        material = dcap_qvl.QuoteCollateralV3.from_json(collateral)
    except ValueError as exc:
        raise UsageError(
            f"the collateral is not dcap-qvl's JSON: {exc}",
            "pass the collateral JSON of this quote (PCK CRLs, TCB info, QE identity)",
        ) from None
    result = TdQuoteResult("failed", version=quote.header.version, at=stamp)
    result.fields = {
        name: bytes(getattr(quote.report, attr)).hex()
        for name, attr in _MEASUREMENTS
        if hasattr(quote.report, attr)
    }
    try:
        verdict = dcap_qvl.verify(raw, material, when)
    except ValueError as exc:
        result.reasons.append(f"the quote does not verify to Intel's root as of {stamp}: {exc}")
        return result
    result.tcb_status, result.advisories = verdict.status, list(verdict.advisory_ids)
    if nonce is not None:
        data = bytes.fromhex(result.fields.get("report_data", ""))
        result.nonce_matches = 0 < len(nonce) <= len(data) and data == nonce.ljust(len(data), b"\0")
        if not result.nonce_matches:
            result.reasons.append(
                "the quote's report data is not the nonce given: it is not this request's"
            )
            return result
    result.status = "verified"
    return result
