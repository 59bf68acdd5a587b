"""The chip's VCEK from AMD's key distribution service, fetched once and cached.

URL scheme: {base}/vcek/v1/{product}/{chip_id}?blSPL=..&teeSPL=..&snpSPL=..&ucodeSPL=..
(Turin: the first 8 bytes of the chip id, and fmcSPL). A reply that is not a certificate
(an HTML error page, a JSON error) is an error, never cached.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

from cryptography import x509

from sevtui import statedir
from sevtui.attest.report import Report
from sevtui.attest.verify import load_certificate
from sevtui.errors import SevtuiError, UsageError

DEFAULT_KDS = "https://kdsintf.amd.com"
MAX_CERT_BYTES = 16 * 1024
TIMEOUT_S = 20


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
        return load_certificate(saved, str(cache / name)), f"cache {cache / name}"
    url = vcek_url(base, product, report)
    body = _fetch(url)
    try:
        cert = load_certificate(body, url)
    except UsageError:
        raise SevtuiError(
            f"the key distribution service answered {url} with something that is not a "
            f"certificate ({_describe(body)})",
            "check the product (--product) and the URL; pass the VCEK with --vcek",
        ) from None
    statedir.write(cache, name, body)
    return cert, url


def _fetch(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "sevtui"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as reply:
            body = bytes(reply.read(MAX_CERT_BYTES + 1))
    except urllib.error.HTTPError as exc:
        body = exc.read(512)
        raise SevtuiError(
            f"the key distribution service refused {url}: HTTP {exc.code} ({_describe(body)})",
            "check the product (--product); AMD's service also limits request rates: retry "
            "later, or pass the VCEK with --vcek",
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SevtuiError(
            f"cannot reach the key distribution service at {url}: {reason}",
            "check the network, or pass the VCEK with --vcek",
        ) from None
    if len(body) > MAX_CERT_BYTES:
        raise SevtuiError(
            f"the key distribution service answered {url} with more than "
            f"{MAX_CERT_BYTES >> 10} KiB: that is no certificate",
            "check kds_url, or pass the VCEK with --vcek",
        )
    return body


def _describe(body: bytes) -> str:
    text = body[:120].decode(errors="replace").strip().replace("\n", " ")
    if text.lower().startswith(("<!doctype", "<html")):
        return "an HTML page"
    return f"{len(body)} bytes starting {text[:40]!r}" if text else "an empty reply"
