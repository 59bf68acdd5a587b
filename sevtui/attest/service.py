"""Attestation end to end: fetch (or read) a report, verify it to AMD's root, compare the
measurement with what sevtui launched, and say so in one record."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cryptography import x509

from sevtui.attest import kds, verify
from sevtui.attest.guest import Fetched, Shell, fetch
from sevtui.attest.measure import Expected, expected, mismatch_hint
from sevtui.attest.report import Report, load
from sevtui.base.errors import SevtuiError, UsageError
from sevtui.base.inputs import read_input

Status = Literal["verified", "failed", "inconclusive"]
_MILAN_MODELS = range(0x00, 0x10)


@dataclass
class Attestation:
    """One attestation's outcome: `verified` only when every check passed."""

    vm: str
    status: Status
    reasons: list[str] = field(default_factory=list)
    report: Report | None = None
    expected: Expected | None = None
    vcek_source: str = ""
    interface: str = ""
    chain: str = ""
    created: float = field(default_factory=time.time)
    td_quote: dict[str, Any] | None = None
    """A TD's verified quote (tdquote.TdQuoteResult.to_json), for an Intel TD."""

    @property
    def verified(self) -> bool:
        """True when everything checked."""
        return self.status == "verified"

    @property
    def measurement_matches(self) -> bool | None:
        """Report vs expected measurement; None when there is nothing to compare."""
        if self.report is None or self.expected is None or self.expected.measurement is None:
            return None
        return self.report.measurement.hex() == self.expected.measurement

    @property
    def summary(self) -> str:
        """One line: verified / failed / inconclusive, and the first reason."""
        if self.verified and self.report is not None:
            return f"verified, measurement {self.report.measurement.hex()[:16]}..."
        return f"{self.status}: {self.reasons[0] if self.reasons else 'no reason recorded'}"

    def to_json(self) -> dict[str, Any]:
        """The document of `attest --json`, also stored with runs."""
        return {
            "vm": self.vm,
            "status": self.status,
            "verified": self.verified,
            "reasons": self.reasons,
            "interface": self.interface or None,
            "vcek": self.vcek_source or None,
            "chain": self.chain or None,
            "report": self.report.to_json() if self.report else None,
            "expected_measurement": self.expected.measurement if self.expected else None,
            "expected_inputs": self.expected.inputs if self.expected else None,
            "measurement_matches": self.measurement_matches,
            "created": self.created,
            "td_quote": self.td_quote,
        }


@dataclass(frozen=True)
class KeySources:
    """Where the VCEK and the chain come from: files, the cache, or AMD's service."""

    cache: Path
    kds_url: str = kds.DEFAULT_KDS
    pcs_url: str = "https://api.trustedservices.intel.com"
    """Where a TD quote's collateral comes from (then cached under CACHE/tdx)."""
    vcek: Path | None = None
    chain: Path | None = None
    product: str | None = None


MAX_REPORT_FILE = 64 << 10
"""A report is 1184 bytes; its hex with white space, a few KiB."""


def read_file(path: Path, what: str, limit: int = MAX_REPORT_FILE) -> bytes:
    """A user-named input file (regular, at most LIMIT bytes), or a clear error."""
    return read_input(path, what, limit)


def verify_file(path: Path, keys: KeySources) -> Attestation:
    """`attest verify REPORT`: a report from a file (binary or hex)."""
    report = load(read_file(path, "report"), str(path))
    result = Attestation(vm="", status="inconclusive", report=report)
    _verify(result, report, keys)
    return result


def attest_vm(name: str, shell: Shell, argv: list[str], keys: KeySources) -> Attestation:
    """Fetch a fresh report from VM NAME's guest, verify it, compare its measurement."""
    fetched: Fetched = fetch(shell)
    result = Attestation(vm=name, status="inconclusive", interface=fetched.interface)
    if fetched.quote is not None:
        _verify_td(result, fetched, keys)
        return result
    if fetched.report is None:
        result.reasons.append(fetched.problem)
        return result
    result.report = fetched.report
    if fetched.problem:
        result.status = "failed"
        result.reasons.append(fetched.problem)
        return result
    result.expected = expected(argv)
    _verify(result, fetched.report, keys)
    return result


def _verify_td(result: Attestation, fetched: Fetched, keys: KeySources) -> None:
    """A TD's quote: to Intel's root with collateral from the cache or PCS, now."""
    from sevtui.attest.tdcollateral import verify_td

    assert fetched.quote is not None
    if fetched.problem:
        result.status = "failed"
        result.reasons.append(fetched.problem)
        return
    try:
        verdict = verify_td(fetched.quote, None, (None, None), (keys.cache, keys.pcs_url))
    except SevtuiError as exc:
        result.reasons.append(exc.message)
        return
    result.td_quote = verdict.to_json()
    result.status = "verified" if verdict.verified else "failed"
    result.reasons += verdict.reasons


def _verify(result: Attestation, report: Report, keys: KeySources) -> None:
    """Chain, signature, TCB and chip id; then the measurement when one is expected."""
    if report.signing_key != 0:
        signer = "a VLEK (a cloud provider's key)" if report.signing_key == 1 else "no key"
        result.reasons.append(
            f"the report is signed with {signer}: sevtui verifies VCEK-signed reports only"
        )
        return
    try:
        vcek, source = _vcek(report, keys)
        chain = verify.load_chain(keys.chain) if keys.chain else _builtin(vcek, keys)
    except SevtuiError as exc:
        if isinstance(exc, UsageError):
            raise
        result.reasons.append(exc.message)
        return
    result.vcek_source, result.chain = source, chain.product
    verdict = verify.verify(report, vcek, chain)
    result.reasons += verdict.reasons
    if result.expected is not None:
        matches = result.measurement_matches
        if matches is False:
            result.reasons.append(
                f"measurement {report.measurement.hex()} is not the expected "
                f"{result.expected.measurement}: {mismatch_hint(result.expected.inputs)}"
            )
        elif matches is None:
            result.reasons.append(f"no expected measurement: {result.expected.problem}")
            result.status = "inconclusive" if verdict.verified else "failed"
            return
    result.status = "verified" if not result.reasons else "failed"


def _vcek(report: Report, keys: KeySources) -> tuple[x509.Certificate, str]:
    if keys.vcek is not None:
        data = read_file(keys.vcek, "VCEK", kds.MAX_CERT_BYTES)
        return verify.load_certificate(data, str(keys.vcek)), str(keys.vcek)
    product = keys.product or product_of(report) or host_product()
    if product is None:
        raise UsageError(
            "cannot tell which AMD product signed this report (a version 2 report does not "
            "say, and this host is not an EPYC Milan, Genoa or Turin)",
            "pass --vcek FILE, or --product Milan|Genoa|Turin",
        )
    return kds.cached_or_fetched(keys.cache, keys.kds_url, product, report)


def _builtin(vcek: x509.Certificate, keys: KeySources) -> verify.Chain:
    product = keys.product or verify.vcek_product(vcek)
    if product is None:
        raise SevtuiError(
            "the VCEK names no known product (Milan, Genoa, Turin)", "pass --chain FILE"
        )
    return verify.builtin_chain(product)


def product_of(report: Report) -> str | None:
    """The product from a version 3+ report's CPUID family and model."""
    if report.cpuid_family is None or report.version < 3:
        return None
    model = report.raw[0x189]
    if report.cpuid_family == 0x1A:
        return "Turin"
    if report.cpuid_family == 0x19:
        return "Milan" if model in _MILAN_MODELS else "Genoa"
    return None


def host_product(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """The product of this host's EPYC (family 0x19 models 0x00-0x0F Milan, else Genoa;
    family 0x1A Turin), for fetching a VCEK when the report does not say."""
    fields: dict[str, str] = {}
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
            if key.strip() == "flags":
                break
    except OSError:
        return None
    if fields.get("vendor_id") != "AuthenticAMD" or "EPYC" not in fields.get("model name", ""):
        return None
    family, model = int(fields.get("cpu family", "0")), int(fields.get("model", "0"))
    if family == 0x1A:
        return "Turin"
    if family == 0x19:
        return "Milan" if model in _MILAN_MODELS else "Genoa"
    return None
