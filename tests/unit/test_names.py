"""Names at the door and text on the way out: control characters are refused in labels,
profiles and targets, labels stay one folder name, and every line the CLI prints shows
control characters written out."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sevtui.base.errors import UsageError
from sevtui.base.names import check_label, check_name, visible
from sevtui.cli.commands import main
from sevtui.store.db import Store
from tests.sysroots import DATA

SEED_MBW = DATA / "seed" / "sev" / "mbw.txt"


@pytest.mark.parametrize("label", ["a\x1b[2J", "t\x07", "x\x9bm", "", " ", "x" * 201])
def test_labels_with_control_characters_or_empty_are_refused(label: str) -> None:
    with pytest.raises(UsageError):
        check_label(label)


@pytest.mark.parametrize("label", ["/some/dir", "../../..", "..", ".", "a/b"])
def test_a_label_is_one_folder_name(label: str) -> None:
    with pytest.raises(UsageError, match="not one folder name"):
        check_label(label)


def test_ordinary_names_pass_and_escapes_are_written_out() -> None:
    assert check_label("quick-20261207-020000") == "quick-20261207-020000"
    assert check_name("demo@vcpus=2+memory=4G", "target") == "demo@vcpus=2+memory=4G"
    assert visible("a\x1b]0;t\x07b") == "a\\x1b]0;t\\x07b"
    assert visible("line\n\tnext\r", lines=True) == "line\n\tnext\\x0d"


def test_import_refuses_an_escape_in_the_label_or_profile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "r.db"
    for label, profile in (("a\x1b[2J", "sev"), ("ok", "p\x1b]0;x\x07")):
        capsys.readouterr()
        code = main(
            ["--db", str(db), "import", str(SEED_MBW), "--label", label, "--profile", profile]
        )
        assert code == 2
        assert "control character" in capsys.readouterr().err
    assert Store(db).runs() == []


def test_results_list_writes_out_escapes_that_reached_the_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "r.db"
    assert main(["--db", str(db), "import", str(SEED_MBW), "--label", "l", "--profile", "p"]) == 0
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE runs SET label = 'evil' || char(27) || '[2J' || char(27) || ']0;t' || char(7)"
        )
    conn.close()
    capsys.readouterr()
    assert main(["--db", str(db), "results", "list"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "evil\\x1b[2J\\x1b]0;t\\x07" in out


def test_fleet_run_refuses_a_label_that_would_leave_its_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[paths]\ndata_dir = "{tmp_path / "data"}"\n')
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("milan-a ansible_connection=local\n")
    for label in ("/etc", "../../.."):
        capsys.readouterr()
        code = main(
            [
                "--config",
                str(config),
                "fleet",
                "run",
                "--inventory",
                str(inventory),
                "--label",
                label,
                "--vm",
                "host",
            ]
        )
        assert code == 2
        assert "not one folder name" in capsys.readouterr().err
    assert not (tmp_path / "data" / "fleet").exists(), "nothing was written"
