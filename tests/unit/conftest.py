"""Fixtures the unit tests share."""

from __future__ import annotations

from pathlib import Path

import pytest

from sevtui.cli.commands import main
from tests.sysroots import DATA

SEED = DATA / "seed"


def cli(db: Path, *args: str) -> int:
    """`sevtui --db DB ARGS...` in this process; its exit status."""
    return main(["--db", str(db), *args])


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    """A database holding the seed's outputs, imported as run label `seed`."""
    db = tmp_path / "r.db"
    for folder, profile in (("sev", "sev-snp"), ("nosev", "nosev")):
        files = map(str, sorted((SEED / folder).iterdir()))
        assert cli(db, "import", *files, "--label", "seed", "--profile", profile) == 0
    return db
