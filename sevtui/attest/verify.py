"""Verify an SEV-SNP report to AMD's root: ARK -> ASK -> VCEK -> report.

ARK and ASK sign with RSA-PSS (SHA-384, salt 48); the VCEK, a P-384 key unique to the
chip and its TCB, signs the report with ECDSA. The VCEK's extensions name the TCB it was
issued for and the chip's hardware id, which must be the report's.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.utils import CryptographyDeprecationWarning

from sevtui.attest.report import Report
from sevtui.base.errors import UsageError
from sevtui.base.inputs import read_input
from sevtui.host.tcb import Tcb

PRODUCTS = ("Milan", "Genoa", "Turin")
_AMD = "1.3.6.1.4.1.3704.1."
OID_PRODUCT = _AMD + "2"
OID_SPL = {
    "bootloader": _AMD + "3.1",
    "tee": _AMD + "3.2",
    "snp": _AMD + "3.3",
    "microcode": _AMD + "3.8",
    "fmc": _AMD + "3.9",
}
OID_HWID = _AMD + "4"
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)


@dataclass
class Verdict:
    """What verification established: verified only when no reason stands against it."""

    reasons: list[str] = field(default_factory=list)
    chain: str = ""

    @property
    def verified(self) -> bool:
        """True when every check passed."""
        return not self.reasons

    def fail(self, reason: str) -> None:
        """Record one check that did not pass."""
        self.reasons.append(reason)


@dataclass(frozen=True)
class Chain:
    """AMD's root (ARK) and signing key (ASK) for one product."""

    product: str
    ark: x509.Certificate
    ask: x509.Certificate


def builtin_chain(product: str) -> Chain:
    """The ARK and ASK shipped with sevtui for PRODUCT (Milan, Genoa, Turin)."""
    folder = resources.files("sevtui").joinpath("data", "amd")
    ark, ask = (
        x509.load_pem_x509_certificate(folder.joinpath(f"{product.lower()}-{key}.pem").read_bytes())
        for key in ("ark", "ask")
    )
    return Chain(product, ark, ask)


MAX_CHAIN_BYTES = 64 << 10
"""ASK and ARK in PEM: about 4 KiB."""


def load_chain(path: Path) -> Chain:
    """A PEM file with ASK then ARK, as AMD's key distribution service serves cert_chain."""
    data = read_input(path, "certificate chain", MAX_CHAIN_BYTES)
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise UsageError(
            f"{path}: not a PEM certificate chain ({exc})",
            "pass AMD's cert_chain (ASK then ARK, PEM)",
        ) from None
    if len(certs) != 2:
        raise UsageError(f"{path}: {len(certs)} certificates; a chain is ASK then ARK")
    ask, ark = certs
    return Chain(_product_of(ark) or "unknown", ark, ask)


def load_certificate(data: bytes, source: str) -> x509.Certificate:
    """A VCEK in DER or PEM; anything else is a clear error."""
    try:
        with warnings.catch_warnings():
            # AMD issues VCEKs with serial number 0, which RFC 5280 disallows.
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            if data.lstrip().startswith(b"-----BEGIN"):
                return x509.load_pem_x509_certificate(data)
            return x509.load_der_x509_certificate(data)
    except ValueError:
        raise UsageError(
            f"{source}: not an X.509 certificate (DER or PEM)",
            "pass the chip's VCEK as AMD's key distribution service serves it",
        ) from None


def _product_of(cert: x509.Certificate) -> str | None:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    text = str(names[0].value) if names else ""
    for product in PRODUCTS:
        if product.lower() in text.lower():
            return product
    return None


def vcek_product(vcek: x509.Certificate) -> str | None:
    """The product named by the VCEK's issuer (SEV-Milan) or its product extension."""
    names = vcek.issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    text = str(names[0].value) if names else ""
    with contextlib.suppress(KeyError, ValueError, x509.ExtensionNotFound):
        text += " " + _der_text(_extension(vcek, OID_PRODUCT))
    return next((p for p in PRODUCTS if p.lower() in text.lower()), None)


def verify(report: Report, vcek: x509.Certificate, chain: Chain) -> Verdict:
    """Every check: chain signatures, report signature, TCB and chip id against the VCEK."""
    verdict = Verdict(chain=chain.product)
    _check_rsa(verdict, chain.ark, chain.ark, f"ARK ({chain.product}) self-signature")
    _check_rsa(verdict, chain.ask, chain.ark, f"ASK signed by ARK ({chain.product})")
    _check_rsa(verdict, vcek, chain.ask, f"VCEK signed by ASK ({chain.product})")
    key = vcek.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp384r1":
        verdict.fail("the VCEK's key is not an ECDSA P-384 key")
    else:
        r, s = report.signature_rs
        try:
            key.verify(encode_dss_signature(r, s), report.signed_bytes, ec.ECDSA(hashes.SHA384()))
        except InvalidSignature:
            verdict.fail("the report's signature does not verify with the VCEK's key")
    _check_tcb(verdict, vcek, report.reported_tcb)
    _check_chip(verdict, vcek, report.chip_id)
    return verdict


def _check_rsa(
    verdict: Verdict, cert: x509.Certificate, issuer: x509.Certificate, what: str
) -> None:
    key = issuer.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        verdict.fail(f"{what}: the issuer's key is not RSA")
        return
    try:
        key.verify(cert.signature, cert.tbs_certificate_bytes, _PSS, hashes.SHA384())
    except InvalidSignature:
        verdict.fail(f"{what}: signature does not verify")


def _extension(cert: x509.Certificate, oid: str) -> bytes:
    ext = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(oid))
    value = ext.value
    if isinstance(value, x509.UnrecognizedExtension):
        return value.value
    raise KeyError(oid)


def _der_value(data: bytes) -> tuple[int, bytes]:
    """(tag, content) of one DER TLV."""
    if len(data) < 2:
        raise ValueError("short DER")
    tag, length = data[0], data[1]
    offset = 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[2 : 2 + count], "big")
        offset += count
    return tag, data[offset : offset + length]


def _der_text(data: bytes) -> str:
    return _der_value(data)[1].decode(errors="replace")


def vcek_tcb(vcek: x509.Certificate) -> dict[str, int]:
    """The SPLs the VCEK was issued for, from its AMD extensions."""
    found: dict[str, int] = {}
    for name, oid in OID_SPL.items():
        try:
            tag, content = _der_value(_extension(vcek, oid))
        except (KeyError, x509.ExtensionNotFound, ValueError):
            continue
        if tag == 0x02:
            found[name] = int.from_bytes(content, "big")
    return found


def _check_tcb(verdict: Verdict, vcek: x509.Certificate, reported: Tcb) -> None:
    issued = vcek_tcb(vcek)
    expected: dict[str, Any] = reported.to_json()
    differ = [
        f"{name} {issued.get(name)} (VCEK) vs {value} (report)"
        for name, value in expected.items()
        if issued.get(name) != value
    ]
    if differ:
        verdict.fail("the VCEK was issued for another TCB: " + ", ".join(differ))


def _check_chip(verdict: Verdict, vcek: x509.Certificate, chip_id: bytes) -> None:
    try:
        raw = _extension(vcek, OID_HWID)
    except (KeyError, x509.ExtensionNotFound):
        verdict.fail("the VCEK has no hardware id extension")
        return
    hwid = raw
    if raw[:1] == b"\x04":
        hwid = _der_value(raw)[1]
    if hwid != chip_id:
        verdict.fail(
            "the VCEK belongs to another chip: its hardware id is not the report's chip id"
        )
