"""sevtui-exits, the VM-exit microbenchmark: its C source ships as package data, and
sevtui builds it statically with the host's gcc (once per source version) to pack it
into the minimal guest."""

from __future__ import annotations

import hashlib
import shutil
from importlib import resources
from pathlib import Path

from sevtui.base.errors import SevtuiError
from sevtui.base.proc import run_checked

NAME = "sevtui-exits"
SOURCE = Path(str(resources.files("sevtui").joinpath("data", "exits", f"{NAME}.c")))
_HINT = "install gcc and the static C library: sudo apt-get install gcc libc6-dev"


def built_exits(cache: Path) -> Path:
    """The static sevtui-exits binary for this source, built into CACHE when missing."""
    source = SOURCE.read_bytes()
    binary = cache / f"{NAME}-{hashlib.sha256(source).hexdigest()[:16]}"
    if binary.is_file():
        return binary
    gcc = shutil.which("gcc")
    if gcc is None:
        raise SevtuiError("gcc is not installed: sevtui-exits cannot be built", _HINT)
    cache.mkdir(parents=True, exist_ok=True)
    partial = binary.with_suffix(".part")
    run_checked([gcc, "-O2", "-static", "-o", str(partial), str(SOURCE)], f"gcc {NAME}", _HINT)
    partial.replace(binary)
    return binary
