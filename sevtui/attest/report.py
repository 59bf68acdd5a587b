"""The SEV-SNP attestation report (SEV-SNP firmware ABI, ATTESTATION_REPORT), decoded.

1184 bytes (0x4A0), version 2 or later. The chip signs bytes 0x000-0x29F with its VCEK
(ECDSA P-384, SHA-384); the signature's r and s follow at 0x2A0, 72 bytes each,
little-endian.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Any

from sevtui.base.errors import UsageError
from sevtui.host.tcb import TURIN_FAMILY, Tcb

REPORT_SIZE = 0x4A0
SIGNED_END = 0x2A0
MIN_VERSION, MAX_VERSION = 2, 5
_HEX_START = re.compile(rb"\s*[0-9a-fA-F]")
"""Text that starts as hex (a binary report starts with its version, 2 to 5)."""
_NOT_HEX = re.compile(rb"[^0-9a-fA-F\s]")


@dataclass(frozen=True)
class Report:
    """Every field of a report that a verifier or a reader needs."""

    raw: bytes
    version: int
    guest_svn: int
    policy: int
    family_id: bytes
    image_id: bytes
    vmpl: int
    signature_algo: int
    current_tcb: Tcb
    platform_info: int
    signing_key: int
    report_data: bytes
    measurement: bytes
    host_data: bytes
    id_key_digest: bytes
    author_key_digest: bytes
    report_id: bytes
    reported_tcb: Tcb
    reported_tcb_raw: int
    chip_id: bytes
    committed_tcb: Tcb
    launch_tcb: Tcb
    cpuid_family: int | None

    @property
    def signed_bytes(self) -> bytes:
        """What the VCEK signed: bytes 0x000-0x29F."""
        return self.raw[:SIGNED_END]

    @property
    def signature_rs(self) -> tuple[int, int]:
        """(r, s) of the ECDSA signature, from their little-endian 72-byte fields."""
        r = int.from_bytes(self.raw[SIGNED_END : SIGNED_END + 72], "little")
        s = int.from_bytes(self.raw[SIGNED_END + 72 : SIGNED_END + 144], "little")
        return r, s

    def to_json(self) -> dict[str, Any]:
        """The `report` object of `attest --json`."""
        from sevtui.vm.sevparams import policy_flags

        return {
            "version": self.version,
            "guest_svn": self.guest_svn,
            "policy": f"{self.policy:#x}",
            "policy_flags": policy_flags("sev-snp", self.policy),
            "family_id": self.family_id.hex(),
            "image_id": self.image_id.hex(),
            "vmpl": self.vmpl,
            "signature_algo": "ECDSA P-384 with SHA-384"
            if self.signature_algo == 1
            else self.signature_algo,
            "current_tcb": self.current_tcb.to_json(),
            "reported_tcb": self.reported_tcb.to_json(),
            "committed_tcb": self.committed_tcb.to_json(),
            "launch_tcb": self.launch_tcb.to_json(),
            "platform_info": {
                "value": f"{self.platform_info:#x}",
                "smt_enabled": bool(self.platform_info & 1),
                "tsme_enabled": bool(self.platform_info & 2),
            },
            "signing_key": "VCEK"
            if self.signing_key == 0
            else "VLEK"
            if self.signing_key == 1
            else "none",
            "report_data": self.report_data.hex(),
            "measurement": self.measurement.hex(),
            "host_data": self.host_data.hex(),
            "id_key_digest": self.id_key_digest.hex(),
            "author_key_digest": self.author_key_digest.hex(),
            "report_id": self.report_id.hex(),
            "chip_id": self.chip_id.hex(),
        }


def load(data: bytes, source: str) -> Report:
    """Raw binary or hex text of a report; a clear UsageError for anything else."""
    raw = data
    if len(data) != REPORT_SIZE and _HEX_START.match(data):
        junk = _NOT_HEX.search(data)
        if junk is not None:
            raise UsageError(
                f"{source}: not hex: byte {junk.start()} is {data[junk.start() :][:1]!r}",
                "pass the report as written (binary, or hex digits and white space only)",
            )
        text = b"".join(data.split())
        if len(text) % 2:
            raise UsageError(f"{source}: odd number of hex digits", "pass the report as written")
        raw = bytes.fromhex(text.decode())
    return parse(raw, source)


def parse(raw: bytes, source: str = "report") -> Report:
    """Decode a 1184-byte report (version 2 and later)."""
    if len(raw) != REPORT_SIZE:
        raise UsageError(
            f"{source}: {len(raw)} bytes; an SEV-SNP attestation report is {REPORT_SIZE} "
            f"bytes ({'truncated' if len(raw) < REPORT_SIZE else 'too long'})",
            "pass the raw report (binary, or its hex) as the guest produced it",
        )
    version, guest_svn, policy = struct.unpack_from("<IIQ", raw, 0x00)
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise UsageError(
            f"{source}: report version {version}; sevtui reads versions "
            f"{MIN_VERSION}-{MAX_VERSION}",
            "is this an SEV-SNP attestation report?",
        )
    vmpl, signature_algo, current, platform_info, flags = struct.unpack_from("<IIQQI", raw, 0x30)
    family = raw[0x188] if version >= 3 else None
    turin = family == TURIN_FAMILY
    reported_raw = struct.unpack_from("<Q", raw, 0x180)[0]
    committed_raw = struct.unpack_from("<Q", raw, 0x1E0)[0]
    launch_raw = struct.unpack_from("<Q", raw, 0x1F0)[0]
    return Report(
        raw=raw,
        version=version,
        guest_svn=guest_svn,
        policy=policy,
        family_id=raw[0x10:0x20],
        image_id=raw[0x20:0x30],
        vmpl=vmpl,
        signature_algo=signature_algo,
        current_tcb=Tcb.decode(current, turin),
        platform_info=platform_info,
        signing_key=(flags >> 2) & 0b111,
        report_data=raw[0x50:0x90],
        measurement=raw[0x90:0xC0],
        host_data=raw[0xC0:0xE0],
        id_key_digest=raw[0xE0:0x110],
        author_key_digest=raw[0x110:0x140],
        report_id=raw[0x140:0x160],
        reported_tcb=Tcb.decode(reported_raw, turin),
        reported_tcb_raw=reported_raw,
        chip_id=raw[0x1A0:0x1E0],
        committed_tcb=Tcb.decode(committed_raw, turin),
        launch_tcb=Tcb.decode(launch_raw, turin),
        cpuid_family=family,
    )
