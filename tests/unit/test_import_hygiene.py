"""The core never imports Textual, so the CLI stays fast and the core stays testable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "sevtui"
CORE = sorted(
    ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    for path in PACKAGE.rglob("*.py")
    if "tui" not in path.relative_to(PACKAGE).parts and path.name != "__main__.py"
)


@pytest.mark.parametrize("module", CORE)
def test_core_module_does_not_load_textual(module: str) -> None:
    code = f"import {module}, sys; print('textual' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False", module


def test_core_list_is_not_empty() -> None:
    assert "sevtui.host.caps" in CORE and "sevtui.cli.commands" in CORE


def test_the_first_frame_waits_for_no_heavy_module() -> None:
    """The command tree and the app load without pydantic, SciPy or the store: those load
    after the first frame is drawn (start-up is measured by bench/tui_startup.py)."""
    heavy = (
        "pydantic",
        "scipy",
        "sevtui.store.db",
        "sevtui.config",
        "matplotlib",
        "sqlite_utils",
        "dcap_qvl",
    )
    code = (
        "import sys, sevtui.cli.commands, sevtui.cli.parser, sevtui.tui.app; "
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
