"""`results merge` of databases an adversary wrote: names taken literally, views and
triggers refused, every value checked, bounded in time, UUID clashes refused, batches
that let writers in, and no scratch or partial run left behind by a killed merge."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from sevtui.base.errors import SevtuiError
from sevtui.base.values import Value
from sevtui.store.db import Store
from sevtui.store.merge import BATCH_ROWS, MergeStopped, _Guard, _stoppable, columns, merge
from sevtui.store.merge_rows import CHECKS
from sevtui.store.rows import RepetitionRecord
from sevtui.store.schema import MIGRATIONS
from tests.unit.test_merge import counts, host_database

RECURSIVE = (
    "CREATE VIEW runs AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
    "SELECT x AS id, 'l' AS label FROM c"
)


def _edit(path: Path, *statements: str) -> Path:
    with sqlite3.connect(path) as db:
        for statement in statements:
            db.execute(statement)
    db.close()
    return path


def test_a_source_is_opened_exactly_as_named_read_only_and_never_created(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "dir"
    folder.mkdir()
    host_database(folder / "other.db", "milan-a")
    local = Store(tmp_path / "local.db")
    with pytest.raises(SevtuiError, match="No such file"):
        merge(local, [folder / "%6Fther.db"])
    literal = host_database(folder / "named#frag.db", "genoa-b")
    (merged,) = merge(local, [literal])
    assert len(merged.added) == 1
    host_database(folder / "x.db", "milan-a", label="plain")
    with pytest.raises(SevtuiError, match="No such file"):
        merge(local, [folder / "x.db?y"])
    databases = {p.name for p in folder.iterdir() if not p.name.endswith(("-wal", "-shm"))}
    assert databases == {"named#frag.db", "other.db", "x.db"}, "nothing else was created"
    assert counts(tmp_path / "local.db")["runs"] == 1
    local.close()


def test_a_recursive_view_or_a_trigger_is_refused_at_once(tmp_path: Path) -> None:
    viewed = host_database(tmp_path / "view.db", "milan-a")
    _edit(viewed, "DROP TABLE runs", RECURSIVE)
    triggered = host_database(tmp_path / "trigger.db", "genoa-b")
    _edit(
        triggered,
        "CREATE TRIGGER t AFTER UPDATE ON runs BEGIN DELETE FROM measurements; END",
    )
    local = Store(tmp_path / "local.db")
    started = time.monotonic()
    with pytest.raises(SevtuiError, match=r"view\.db: its view 'runs' is not part of sevtui"):
        merge(local, [viewed])
    with pytest.raises(SevtuiError, match=r"trigger\.db: its trigger 't' is not part"):
        merge(local, [triggered])
    assert time.monotonic() - started < 10
    assert counts(tmp_path / "local.db")["runs"] == 0
    local.close()


@pytest.mark.parametrize(
    ("statement", "where"),
    [
        (
            "UPDATE measurements SET value = 1e999 WHERE rowid = 2",
            "measurements, row id 2, column value",
        ),
        (
            "UPDATE measurements SET value = -5 WHERE rowid = 1",
            "measurements, row id 1, column value",
        ),
        ("UPDATE measurements SET value = 'abc' WHERE rowid = 3", "row id 3, column value"),
        ("UPDATE runs SET targets = 'not json'", "table runs, row id 1, column targets"),
        ("UPDATE runs SET provenance = '[1]'", "column provenance: JSON list, not a dict"),
        ("UPDATE runs SET started = 'notatime'", "table runs, row id 1, column started"),
        ("UPDATE runs SET label = 'a' || char(27) || '[2J'", "column label"),
        ("UPDATE results SET target = 'x' || char(27) || ']0;t' || char(7)", "column target"),
        ("UPDATE runs SET uuid = NULL", "column uuid: None: a run needs a UUID"),
        ("UPDATE run_targets SET info = '{' WHERE target = 'nosev'", "table run_targets"),
        ("UPDATE attestations SET reasons = '{}'", "table attestations, row id 1, column reasons"),
        ("UPDATE probes SET throughput_gbps = -1.0", "table probes, row id 1"),
    ],
)
def test_one_bad_value_refuses_the_whole_merge_naming_it(
    tmp_path: Path, statement: str, where: str
) -> None:
    good = host_database(tmp_path / "good.db", "genoa-b")
    bad = _edit(host_database(tmp_path / "bad.db", "milan-a"), statement)
    local = Store(tmp_path / "local.db")
    with pytest.raises(SevtuiError, match=r"cannot merge .*bad\.db: table ") as raised:
        merge(local, [good, bad])
    assert where in raised.value.message
    assert counts(tmp_path / "local.db")["runs"] == 0, "nothing was written"
    local.close()


def test_every_merged_column_has_a_check_after_every_migration(tmp_path: Path) -> None:
    store = Store(tmp_path / "latest.db")
    for table, checks in CHECKS.items():
        assert set(columns(store.conn, table)) == set(checks), table
    store.close()


def test_a_merge_copies_every_column_of_every_schema_version() -> None:
    """After each migration, merge's columns are the table's own (PRAGMA table_info)
    but for row ids and links to parents."""
    links = {"id", "run_id", "result_id"}
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        for migration in MIGRATIONS:
            for statement in migration:
                conn.execute(statement)
            tables = [
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            ]
            for table in tables:
                info = conn.execute(f"PRAGMA table_info({table})").fetchall()
                assert list(columns(conn, table)) == [r[1] for r in info if r[1] not in links]


def test_a_uuid_clash_with_other_content_is_refused_and_a_continued_run_replaces(
    tmp_path: Path,
) -> None:
    first = host_database(tmp_path / "first.db", "milan-a")
    local = Store(tmp_path / "local.db")
    merge(local, [first])
    (same_uuid,) = [row[0] for row in local.execute("SELECT uuid FROM runs")]
    forged = host_database(tmp_path / "forged.db", "genoa-b", label="other")
    _edit(forged, f"UPDATE runs SET uuid = '{same_uuid}'")
    with pytest.raises(SevtuiError, match=f"run {same_uuid} is here already with other content"):
        merge(local, [forged])
    assert counts(tmp_path / "local.db")["measurements"] == 6

    partial = host_database(tmp_path / "partial.db", "genoa-b", label="cont")
    _edit(
        partial,
        "DELETE FROM measurements WHERE repetition = 3",
        "UPDATE runs SET status = 'failed'",
    )
    _edit(partial, "DELETE FROM results WHERE repetition = 3")
    (merged,) = merge(local, [partial])
    assert len(merged.added) == 1
    whole = tmp_path / "whole.db"
    host_database(whole, "genoa-b", label="cont")
    started = sqlite3.connect(partial).execute("SELECT started FROM runs").fetchone()[0]
    _edit(whole, f"UPDATE runs SET uuid = '{merged.added[0]}', started = {started!r}")
    (again,) = merge(local, [whole])
    assert again.updated == merged.added and not again.added
    assert counts(tmp_path / "local.db")["measurements"] == 12
    local.close()


def test_a_negative_schema_version_is_refused_not_migrated(tmp_path: Path) -> None:
    odd = _edit(host_database(tmp_path / "odd.db", "milan-a"), "PRAGMA user_version = -1")
    local = Store(tmp_path / "local.db")
    with pytest.raises(SevtuiError, match=r"cannot merge .*odd\.db: .*schema version -1") as raised:
        merge(local, [odd])
    assert "sevtui-merge-" not in raised.value.message, "the source is named, not the copy"
    local.close()


def test_the_time_budget_stops_a_merge_and_leaves_no_partial_run(tmp_path: Path) -> None:
    source = host_database(tmp_path / "s.db", "milan-a")
    local = Store(tmp_path / "local.db")
    with pytest.raises(MergeStopped, match="took longer than 0 s"):
        merge(local, [source], budget_s=0.0)
    assert counts(tmp_path / "local.db")["runs"] == 0
    local.close()


def test_sigint_and_sigterm_stop_a_merge_instead_of_killing_it() -> None:
    guard = _Guard(60)
    with _stoppable(guard):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
    assert guard.stopped == "interrupted (SIGTERM)"
    with pytest.raises(MergeStopped, match="interrupted"):
        guard.check()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_big_run_is_written_in_batches_that_let_a_writer_in(tmp_path: Path) -> None:
    path = tmp_path / "big.db"
    store = Store(path)
    run_id = store.create_run("big", "running", "quick", 1, ["host"], {"host": "h"})
    values = [Value(f"m{i}", "s", "lower", 1.0 + i) for i in range(3 * BATCH_ROWS)]
    store.record(run_id, RepetitionRecord("host", "lz4", "cpu", 1, "ok", values, 1.0))
    store.finish_run(run_id, "done")
    store.close()
    local = Store(tmp_path / "local.db")
    commits: list[str] = []
    local.conn.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    merge(local, [path])
    assert len(commits) >= 4, "the run row, then its measurements in several transactions"
    assert counts(tmp_path / "local.db")["measurements"] == 3 * BATCH_ROWS
    local.close()


def test_a_killed_merge_leaves_no_partial_run_and_its_scratch_is_cleaned(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(dead.stdout)
    stale = Path(tempfile.mkdtemp(prefix=f"sevtui-merge-{pid}-"))
    (stale / "0.db").write_bytes(b"x" * 1024)
    local = Store(tmp_path / "local.db")
    local.execute(
        "INSERT INTO runs (label, status, targets, started, pid, uuid) "
        "VALUES ('half', 'merging', '[]', 1.0, ?, ?)",
        (pid, str(uuid.uuid4())),
    )
    assert [run.label for run in local.runs()] == [], "the half-merged run is removed"
    merge(local, [host_database(tmp_path / "s.db", "milan-a")])
    assert not stale.exists()
    assert not list(Path(tempfile.gettempdir()).glob(f"sevtui-merge-{os.getpid()}-*"))
    local.close()


def test_migrations_never_define_views_or_triggers() -> None:
    """The schema check compares with what these statements make: keep them tables only."""
    text = " ".join(s for migration in MIGRATIONS for s in migration).upper()
    assert "CREATE VIEW" not in text and "CREATE TRIGGER" not in text


def test_a_value_stored_while_the_database_is_busy_waits_and_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A merge (or another sevtui) holds the write lock past the busy timeout: the
    measured repetition keeps trying instead of being lost."""
    import sevtui.store.db as store_module

    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_MS", 100)
    store = Store(tmp_path / "r.db")
    run_id = store.create_run("busy", "running", "quick", 1, ["host"])
    locked = threading.Event()

    def hold_the_lock() -> None:
        holder = sqlite3.connect(tmp_path / "r.db", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        locked.set()
        time.sleep(1.0)
        holder.execute("COMMIT")
        holder.close()

    released = threading.Thread(target=hold_the_lock)
    released.start()
    locked.wait(10)
    value = Value("seconds", "s", "lower", 1.5)
    store.record(run_id, RepetitionRecord("host", "lz4", "cpu", 1, "ok", [value], 1.0))
    released.join()
    assert [s.value for s in store.samples([run_id])] == [1.5]
    store.close()


def test_two_threads_opening_a_new_database_at_once_both_get_it(tmp_path: Path) -> None:
    """The app's workers may open a fresh database together: neither may fail with
    'table runs already exists'."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def open_it(path: Path) -> None:
        try:
            barrier.wait(5)
            Store(path).close()
        except BaseException as exc:
            errors.append(exc)

    for attempt in range(20):
        path = tmp_path / f"new{attempt}.db"
        threads = [threading.Thread(target=open_it, args=(path,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert errors == [], "(one in five attempts failed when the WAL switch was not retried)"
