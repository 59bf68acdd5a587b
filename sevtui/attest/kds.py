"""The chip's VCEK from AMD's key distribution service, fetched once and cached.

URL scheme: {base}/vcek/v1/{product}/{chip_id}?blSPL=..&teeSPL=..&snpSPL=..&ucodeSPL=..
(Turin: the first 8 bytes of the chip id, and fmcSPL). A reply that is not a certificate
(an HTML error page, a JSON error) is an error, never cached.
"""

from __future__ import annotations

import queue
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from cryptography import x509

from sevtui.attest.report import Report
from sevtui.attest.verify import load_certificate
from sevtui.base import statedir
from sevtui.base.errors import SevtuiError, UsageError

DEFAULT_KDS = "https://kdsintf.amd.com"
MAX_CERT_BYTES = 16 * 1024
TIMEOUT_S = 20
"""Seconds any one read may wait."""
TOTAL_S = 30.0
"""Seconds a whole fetch may take."""


def vcek_url(base: str, product: str, report: Report) -> str:
    """Where KDS serves the VCEK for REPORT's chip and reported TCB."""
    tcb = report.reported_tcb
    turin = product == "Turin"
    chip = report.chip_id[:8] if turin else report.chip_id
    query = f"blSPL={tcb.bootloader}&teeSPL={tcb.tee}&snpSPL={tcb.snp}&ucodeSPL={tcb.microcode}"
    if turin and tcb.fmc is not None:
        query = f"fmcSPL={tcb.fmc}&{query}"
    return f"{base.rstrip('/')}/vcek/v1/{product}/{chip.hex()}?{query}"


def cache_name(product: str, report: Report) -> str:
    """One cache file per product, chip and reported TCB."""
    return f"vcek-{product}-{report.chip_id.hex()[:32]}-{report.reported_tcb_raw:016x}.der"


def cached_or_fetched(
    cache: Path, base: str, product: str, report: Report
) -> tuple[x509.Certificate, str]:
    """The VCEK from CACHE, else from KDS (then cached); and where it came from."""
    name = cache_name(product, report)
    statedir.private_dir(cache)
    saved = statedir.read(cache, name)
    if saved:
        try:
            return load_certificate(saved, str(cache / name)), f"cache {cache / name}"
        except UsageError:
            raise SevtuiError(
                f"the cached VCEK {cache / name} is not a certificate (the file is damaged)",
                f"delete it (rm {cache / name}); sevtui then fetches it again",
            ) from None
    url = vcek_url(base, product, report)
    body = _fetch(url)
    try:
        cert = load_certificate(body, _shown_url(url))
    except UsageError:
        raise SevtuiError(
            f"the key distribution service answered {_shown_url(url)} with something that is not a "
            f"certificate ({_describe(body)})",
            "check the product (--product) and the URL; pass the VCEK with --vcek",
        ) from None
    statedir.write(cache, name, body)
    return cert, _shown_url(url)


def _fetch(url: str) -> bytes:
    """URL's body within TOTAL_S seconds in all: a server that answers a byte at a time
    cannot hold sevtui (the per-read timeout alone would let it)."""
    answer: queue.Queue[bytes | SevtuiError] = queue.Queue(maxsize=1)

    def fetch() -> None:
        try:
            answer.put(_fetch_blocking(url))
        except SevtuiError as exc:
            answer.put(exc)

    threading.Thread(target=fetch, name="sevtui-kds", daemon=True).start()
    try:
        got = answer.get(timeout=TOTAL_S)
    except queue.Empty:
        raise SevtuiError(
            f"the key distribution service at {_shown_url(url)} gave no complete answer "
            f"within {TOTAL_S:g} s",
            "check the network or kds_url, or pass the VCEK with --vcek",
        ) from None
    if isinstance(got, SevtuiError):
        raise got
    return got


def _fetch_blocking(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "sevtui"})
    shown = _shown_url(url)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as reply:
            body = bytes(reply.read(MAX_CERT_BYTES + 1))
    except urllib.error.HTTPError as exc:
        body = exc.read(512)
        raise SevtuiError(
            f"the key distribution service refused {shown}: HTTP {exc.code} ({_describe(body)})",
            "check the product (--product); AMD's service also limits request rates: retry "
            "later, or pass the VCEK with --vcek",
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SevtuiError(
            f"cannot reach the key distribution service at {shown}: {reason}",
            "check the network, or pass the VCEK with --vcek",
        ) from None
    if len(body) > MAX_CERT_BYTES:
        raise SevtuiError(
            f"the key distribution service answered {shown} with more than "
            f"{MAX_CERT_BYTES >> 10} KiB: that is no certificate",
            "check kds_url, or pass the VCEK with --vcek",
        )
    return body


def _shown_url(url: str) -> str:
    """URL without a password, should one have slipped into it."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[-1]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def _describe(body: bytes) -> str:
    text = body[:120].decode(errors="replace").strip().replace("\n", " ")
    if text.lower().startswith(("<!doctype", "<html")):
        return "an HTML page"
    return f"{len(body)} bytes starting {text[:40]!r}" if text else "an empty reply"
