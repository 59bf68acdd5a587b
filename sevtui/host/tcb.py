"""A TCB_VERSION: the security patch levels of the SEV firmware parts, as attestation
reports and SNP_PLATFORM_STATUS carry them (laid out per CPU generation)."""

from __future__ import annotations

from dataclasses import dataclass

TURIN_FAMILY = 0x1A
"""Zen 5: the TCB gains the FMC field and moves the others."""


@dataclass(frozen=True)
class Tcb:
    """A TCB_VERSION: the security patch levels of each firmware part."""

    bootloader: int
    tee: int
    snp: int
    microcode: int
    fmc: int | None = None

    @classmethod
    def decode(cls, raw: int, turin: bool) -> Tcb:
        """Milan and Genoa: bootloader, tee, -, snp, microcode; Turin adds fmc first."""
        b = raw.to_bytes(8, "little")
        if turin:
            return cls(bootloader=b[1], tee=b[2], snp=b[3], microcode=b[7], fmc=b[0])
        return cls(bootloader=b[0], tee=b[1], snp=b[6], microcode=b[7])

    def to_json(self) -> dict[str, int]:
        """bootloader, tee, snp, microcode (and fmc on Turin)."""
        data = {
            "bootloader": self.bootloader,
            "tee": self.tee,
            "snp": self.snp,
            "microcode": self.microcode,
        }
        if self.fmc is not None:
            data["fmc"] = self.fmc
        return data

    def text(self) -> str:
        """`bootloader 3, TEE 0, SNP 8, microcode 115` (the FMC first on Turin)."""
        fmc = f"FMC {self.fmc}, " if self.fmc is not None else ""
        return (
            f"{fmc}bootloader {self.bootloader}, TEE {self.tee}, SNP {self.snp}, "
            f"microcode {self.microcode}"
        )
