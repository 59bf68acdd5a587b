"""A TD quote's collateral (PCK CRLs, TCB info, QE identity) from Intel's PCS, fetched
once per platform (FMSPC and PCK CA) and cached under the attestation cache like VCEKs.

The service is configurable (`attest.pcs_url`: a PCCS of your own), and defaults to
Intel's; never a third party's. A cached copy whose TCB info is past its next update at
the time the quote is verified as of is fetched again.
"""

from __future__ import annotations

import asyncio
import calendar
import json
import re
import time
from pathlib import Path
from typing import Any

from sevtui.attest.tdquote import TdQuoteResult, parse_time, verify_file
from sevtui.base import statedir
from sevtui.base.errors import SevtuiError, UsageError

FETCH_TIMEOUT_S = 60.0
_SAFE = re.compile(r"^[A-Za-z0-9]{1,32}$")


def verify_td(
    quote: bytes,
    collateral: Path | None,
    when: tuple[str | None, str | None],
    service: tuple[Path, str],
) -> TdQuoteResult:
    """Verify QUOTE as of WHEN's time (ISO 8601) for WHEN's nonce (hex), against the
    COLLATERAL file, or else what SERVICE's cache holds or its PCS URL serves."""
    at, nonce = when
    if collateral is not None:
        return verify_file(quote, collateral, at, nonce)
    moment = parse_time(at) if at is not None else int(time.time())
    text, source = cached_or_fetched(*service, quote, moment)
    result = verify_file(quote, text, at, nonce)
    result.collateral_source = source
    return result


def cached_or_fetched(cache: Path, pcs_url: str, quote: bytes, moment: int) -> tuple[str, str]:
    """The collateral JSON of QUOTE's platform for verifying as of MOMENT (Unix time),
    and where it came from: the cache while its TCB info is current then, else PCS."""
    import dcap_qvl

    try:
        parsed = dcap_qvl.parse_quote(quote)
        fmspc, ca = str(parsed.fmspc()), str(parsed.ca())
    except ValueError as exc:
        raise UsageError(
            f"the TD quote does not name its platform (FMSPC, PCK CA): {exc}",
            "pass its collateral with --collateral FILE",
        ) from None
    if not (_SAFE.match(fmspc) and _SAFE.match(ca)):
        raise SevtuiError(f"the quote names an odd platform (FMSPC {fmspc!r}, CA {ca!r})")
    folder = cache / "tdx"
    name = f"collateral-{fmspc.lower()}-{ca.lower()}.json"
    statedir.private_dir(folder)
    saved = statedir.read(folder, name)
    if saved and not _stale(saved, moment):
        return saved.decode(), f"cache {folder / name}"

    async def fetch() -> Any:
        return await asyncio.wait_for(dcap_qvl.get_collateral(pcs_url, quote), FETCH_TIMEOUT_S)

    try:
        fetched = asyncio.run(fetch())
    except (RuntimeError, ValueError, TimeoutError) as exc:
        raise SevtuiError(
            f"fetching the quote's collateral from {pcs_url} failed: {exc}",
            "check attest.pcs_url and the network, or pass --collateral FILE",
        ) from None
    text = fetched.to_json()
    statedir.write(folder, name, text.encode())
    return text, pcs_url


def _stale(saved: bytes, moment: int) -> bool:
    """True when the cached TCB info is past its next update at MOMENT (or unreadable)."""
    try:
        tcb_info = json.loads(json.loads(saved)["tcb_info"])
        due = calendar.timegm(time.strptime(tcb_info["nextUpdate"], "%Y-%m-%dT%H:%M:%SZ"))
    except (ValueError, KeyError, TypeError):
        return True
    return due < moment
