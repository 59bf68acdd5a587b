"""The VM kinds sevtui knows (a light module: the CLI parser needs it before any config)."""

from __future__ import annotations

from typing import Literal

VmKind = Literal["nosev", "sev", "sev-es", "sev-snp", "tdx"]
VM_KINDS: tuple[VmKind, ...] = ("nosev", "sev", "sev-es", "sev-snp", "tdx")
SEV_KINDS: tuple[VmKind, ...] = ("sev", "sev-es", "sev-snp")
"""AMD's kinds, each needing what the one before it needs; tdx is Intel's, apart."""
SnpDialect = Literal["upstream", "amd-fork"]
