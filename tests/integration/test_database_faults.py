"""Database faults end in one clear line and exit 1, and nothing measured is lost:
a full disk, a device instead of a file, a read-only database, a corrupt one."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SEED = Path(__file__).resolve().parents[1] / "data" / "seed"
pytestmark = pytest.mark.slow


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sevtui", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )


def mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True, check=False).returncode == 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs: room for a database, not for a large import."""
    folder = tmp_path / "small"
    folder.mkdir()
    if not mount("-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)):
        pytest.skip("mounting a tmpfs is not permitted here")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """A folder holding a database, then bind-mounted read-only (even root cannot write)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "r.db"
    assert cli("--db", str(db), "import", str(SEED / "sev/mbw.txt"), "--label", "ro",
               "--profile", "p").returncode == 0  # fmt: skip
    if not (mount("--bind", str(folder), str(folder))
            and mount("-o", "remount,ro,bind", str(folder))):  # fmt: skip
        pytest.skip("read-only bind mounts are not permitted here")
    yield db
    subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_disk_during_import_is_one_clear_line_and_stores_nothing(
    small_disk: Path, tmp_path: Path
) -> None:
    db = small_disk / "r.db"
    assert cli("--db", str(db), "results", "list").returncode == 0
    big = tmp_path / "big.csv"
    big.write_text("bench,secs\n" + "".join(f"b{i % 500},{i + 1}\n" for i in range(40000)))
    done = cli("--db", str(db), "import", str(big), "--label", "big", "--profile", "p",
               "--format", "csv", "--benchmark-col", "bench", "--value-col", "secs")  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "full" in done.stderr and "Traceback" not in done.stderr
    assert "cannot rollback" not in done.stderr
    listed = cli("--db", str(db), "results", "list", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout) == []


def test_a_device_is_not_a_database() -> None:
    done = cli("--db", "/dev/null", "import", str(SEED / "sev/mbw.txt"), "--label", "x",
               "--profile", "p")  # fmt: skip
    assert done.returncode == 1 and "not a regular file" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_read_only_database_can_be_read_but_not_written(read_only: Path) -> None:
    listed = cli("--db", str(read_only), "results", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [run["label"] for run in json.loads(listed.stdout)] == ["ro"]
    assert cli("--db", str(read_only), "results", "show", "ro").returncode == 0
    wrote = cli("--db", str(read_only), "import", str(SEED / "sev/mbw.txt"), "--label", "x",
                "--profile", "p")  # fmt: skip
    assert wrote.returncode == 1 and "is read-only" in wrote.stderr
    assert "Traceback" not in wrote.stderr


def test_a_corrupt_database_is_named_on_import(tmp_path: Path) -> None:
    db = tmp_path / "bad.db"
    db.write_bytes(b"SQLite format 3\0" + bytes(range(256)) * 20)
    done = cli("--db", str(db), "import", str(SEED / "sev/mbw.txt"), "--label", "x",
               "--profile", "p")  # fmt: skip
    assert done.returncode == 1 and "not a usable sevtui database" in done.stderr
    assert "Traceback" not in done.stderr
