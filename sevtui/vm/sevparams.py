"""SEV, SEV-ES, SEV-SNP and TDX launch parameters: checked before QEMU sees them, and decoded.

The rules are those of AMD's SEV API (policy bits 0-5, API version in 16-31) and SEV-SNP
firmware ABI (policy bit 17 must be one, bits 26-63 reserved), and of upstream QEMU's
`sev-snp-guest` object (host-data 32 bytes, id-block 96, id-auth at most 4096,
guest-visible-workarounds 16, all base64).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from sevtui.base.errors import SevtuiError
from sevtui.base.kinds import SnpDialect, VmKind
from sevtui.config import Config, VmConfig
from sevtui.host.qemu import probe_qemu, snp_dialect

SNP_RESERVED_MBO = 1 << 17
SNP_DEFINED_BITS = (1 << 26) - 1
SEV_RESERVED_BITS = 0xFFC0
SEV_ES_BIT = 1 << 2
_SNP_FLAGS: tuple[tuple[int, str, str], ...] = (
    (16, "SMT allowed", "SMT not allowed"),
    (18, "migration agent allowed", ""),
    (19, "debug allowed", "debug not allowed"),
    (20, "single socket only", ""),
    (21, "CXL memory allowed", ""),
    (22, "AES-256-XTS required", ""),
    (23, "RAPL disabled", ""),
    (24, "ciphertext hiding required", ""),
    (25, "page swap disabled", ""),
)
_SEV_FLAGS: tuple[tuple[int, str, str], ...] = (
    (0, "debug not allowed (NODBG)", "debug allowed"),
    (1, "key sharing not allowed (NOKS)", ""),
    (2, "SEV-ES required (ES)", ""),
    (3, "sending to another platform not allowed (NOSEND)", ""),
    (4, "bound to this domain (DOMAIN)", ""),
    (5, "bound to SEV platforms (SEV)", ""),
)


@dataclass(frozen=True)
class _Blob:
    """A base64 launch parameter of SEV-SNP and the size QEMU requires of it."""

    key: str
    qemu: str
    exact: int | None
    most: int


_TD_FLAGS: tuple[tuple[int, str, str], ...] = (
    (0, "DEBUG: the host may read and change the TD (not confidential)", "no debug"),
    (28, "SEPT_VE_DISABLE: no #VE on EPT violations of pending pages", "#VE on pending pages"),
    (30, "PKS: supervisor protection keys", ""),
    (31, "KL: key locker", ""),
    (63, "PERFMON: performance monitoring", ""),
)
TD_DEFINED_BITS = sum(1 << bit for bit, _set, _clear in _TD_FLAGS)
_TD_BLOBS = (
    _Blob("mrconfigid", "mrconfigid", 48, 48),
    _Blob("mrowner", "mrowner", 48, 48),
    _Blob("mrownerconfig", "mrownerconfig", 48, 48),
)
_SNP_BLOBS = (
    _Blob("id_block", "id-block", 96, 96),
    _Blob("id_auth", "id-auth", None, 4096),
    _Blob("guest_visible_workarounds", "guest-visible-workarounds", 16, 16),
)


def problems(name: str, profile: VmConfig, dialect: SnpDialect | None) -> list[str]:
    """One line per problem with VM NAME's confidential parameters, each with its fix.

    DIALECT None checks everything that does not depend on the QEMU in use.
    """
    if profile.kind == "nosev":
        return _snp_only(name, profile, "nosev") + _tdx_only(name, profile, "nosev")
    if profile.kind == "tdx":
        return _tdx_problems(name, profile)
    found: list[str] = _tdx_only(name, profile, profile.kind)
    if not 1 <= profile.reduced_phys_bits <= 63:
        found.append(
            f"vm.{name}.reduced_phys_bits = {profile.reduced_phys_bits}: QEMU needs 1..63; "
            "set it to 1 (the usual value)"
        )
    if profile.policy is not None:
        if profile.kind == "sev-snp":
            found += _snp_policy(name, profile.policy)
        else:
            found += _sev_policy(name, profile.kind, profile.policy)
    if profile.kind != "sev-snp":
        return found + _snp_only(name, profile, profile.kind)
    if any("smm=on" in arg for arg in (profile.machine, *profile.extra_args)):
        found.append(f"vm.{name}: SEV-SNP guests cannot use SMM; remove smm=on")
    found += _host_data(name, profile.host_data, dialect)
    for blob in _SNP_BLOBS:
        found += _blob(name, blob, getattr(profile, blob.key))
    return found


def _tdx_problems(name: str, profile: VmConfig) -> list[str]:
    """A TD's attributes (the policy key) and measured IDs; AMD's keys are refused."""
    found = [
        f"vm.{name}.{key} is set but only AMD SEV guests use it (kind = 'tdx'); remove it"
        for key in ("cbitpos", "host_data", *(blob.key for blob in _SNP_BLOBS))
        if getattr(profile, key)
    ]
    policy = profile.policy
    if policy is not None and (policy >> 64 or policy & ~TD_DEFINED_BITS):
        found.append(
            f"vm.{name}.policy = {policy:#x}: TD attribute bits "
            f"{_bits(policy & ~TD_DEFINED_BITS)} are reserved or not offered to a TD; "
            f"use {policy & TD_DEFINED_BITS:#x}"
        )
    for blob in _TD_BLOBS:
        found += _blob(name, blob, getattr(profile, blob.key))
    return found


def _tdx_only(name: str, profile: VmConfig, kind: VmKind) -> list[str]:
    return [
        f"vm.{name}.{blob.key} is set but only tdx guests use it (kind = {kind!r}); remove it"
        for blob in _TD_BLOBS
        if getattr(profile, blob.key)
    ]


def _snp_only(name: str, profile: VmConfig, kind: VmKind) -> list[str]:
    keys = ["host_data", *(blob.key for blob in _SNP_BLOBS)]
    return [
        f"vm.{name}.{key} is set but only sev-snp guests use it (kind = {kind!r}); remove it"
        for key in keys
        if getattr(profile, key)
    ]


def _snp_policy(name: str, policy: int) -> list[str]:
    found: list[str] = []
    if not policy & SNP_RESERVED_MBO:
        found.append(
            f"vm.{name}.policy = {policy:#x}: SEV-SNP policy bit 17 must be set; "
            f"use {policy | SNP_RESERVED_MBO:#x}"
        )
    if policy >> 64 or policy & ~SNP_DEFINED_BITS:
        found.append(
            f"vm.{name}.policy = {policy:#x}: bits {_bits(policy & ~SNP_DEFINED_BITS)} are "
            f"reserved in the SEV-SNP policy; use {policy & SNP_DEFINED_BITS:#x}"
        )
    return found


def _sev_policy(name: str, kind: VmKind, policy: int) -> list[str]:
    found: list[str] = []
    if policy >> 32 or policy & SEV_RESERVED_BITS:
        clean = policy & 0xFFFF003F
        found.append(
            f"vm.{name}.policy = {policy:#x}: bits {_bits(policy & ~0xFFFF003F)} are reserved "
            f"in the SEV policy; use {clean:#x}"
        )
    if kind == "sev-es" and not policy & SEV_ES_BIT:
        found.append(
            f"vm.{name}.policy = {policy:#x}: an sev-es guest needs the ES bit (bit 2); "
            f"use {policy | SEV_ES_BIT:#x}"
        )
    if kind == "sev" and policy & SEV_ES_BIT:
        found.append(
            f"vm.{name}.policy = {policy:#x} has the ES bit (bit 2): that launches SEV-ES; "
            f'set kind = "sev-es" or use {policy & ~SEV_ES_BIT:#x}'
        )
    return found


def _bits(mask: int) -> str:
    return ", ".join(str(bit) for bit in range(mask.bit_length()) if mask >> bit & 1)


def _decode(value: str) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _lenient(value: str) -> bytes:
    """What a forgiving decoder (glib's, as AMD's fork used) makes of VALUE."""
    cleaned = "".join(ch for ch in value if ch.isascii() and (ch.isalnum() or ch in "+/"))
    if len(cleaned) % 4 == 1:
        cleaned = cleaned[:-1]
    return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4))


def _host_data(name: str, value: str, dialect: SnpDialect | None) -> list[str]:
    if not value or dialect != "upstream":
        return []
    decoded = _decode(value)
    if decoded is not None and len(decoded) == 32:
        return []
    raw = decoded if decoded is not None else _lenient(value)
    state = "is not padded base64" if decoded is None else "is base64"
    padded = base64.b64encode(raw[:32].ljust(32, b"\0")).decode()
    return [
        f"vm.{name}.host_data must be 32 bytes of base64 for QEMU >= 9.1; {value!r} {state} "
        f"of {len(raw)} bytes; pad it, e.g. host_data = {padded!r}"
    ]


def _blob(name: str, blob: _Blob, value: str) -> list[str]:
    if not value:
        return []
    decoded = _decode(value)
    size = f"exactly {blob.exact}" if blob.exact is not None else f"at most {blob.most}"
    if decoded is None:
        return [f"vm.{name}.{blob.key} is not base64; QEMU's {blob.qemu} needs {size} bytes"]
    if len(decoded) > blob.most or (blob.exact is not None and len(decoded) != blob.exact):
        return [
            f"vm.{name}.{blob.key} is {len(decoded)} bytes; QEMU's {blob.qemu} needs {size} bytes"
        ]
    return []


def policy_flags(kind: VmKind, policy: int) -> list[str]:
    """What POLICY asks of the firmware, in words (empty for nosev)."""
    if kind == "nosev":
        return []
    if kind == "tdx":
        flags, table = [], _TD_FLAGS
    elif kind == "sev-snp":
        flags = [f"ABI >= {policy >> 8 & 0xFF}.{policy & 0xFF}"]
        table = _SNP_FLAGS
    else:
        flags = [f"API >= {policy >> 16 & 0xFF}.{policy >> 24 & 0xFF}"]
        table = _SEV_FLAGS
    for bit, when_set, when_clear in table:
        text = when_set if policy >> bit & 1 else when_clear
        if text:
            flags.append(text)
    return flags


def config_problems(config: Config) -> list[str]:
    """Problems with every VM's confidential parameters, for the QEMU configured here.

    With qemu.snp_dialect = "auto" the dialect comes from the installed QEMU; without
    one, the rules that depend on it are checked for upstream QEMU (>= 9.1).
    """
    try:
        qemu = probe_qemu(config.qemu.binary)
    except SevtuiError:
        qemu = None
    dialect = snp_dialect(config.qemu.snp_dialect, qemu)
    return [
        line for name, profile in config.vm.items() for line in problems(name, profile, dialect)
    ]
