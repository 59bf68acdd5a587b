"""The VM kinds sevtui knows (a light module: the CLI parser needs it before any config)."""

from __future__ import annotations

from typing import Literal

VmKind = Literal["nosev", "sev", "sev-es", "sev-snp"]
VM_KINDS: tuple[VmKind, ...] = ("nosev", "sev", "sev-es", "sev-snp")
SnpDialect = Literal["upstream", "amd-fork"]
