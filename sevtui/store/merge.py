"""`results merge`: copy runs from other sevtui databases into this one, by run UUID.

A database from another machine is untrusted input. Each source is opened exactly as
named, read-only, and read through SQLite's backup API into a private scratch copy
(its WAL included, the original untouched). The copy must hold sevtui's own schema for
its version (tables only: no views, no triggers), is upgraded there, and every value of
every source is checked like an import before anything is written: one bad row refuses
the whole merge. The whole merge runs under a time budget, and Ctrl-C or SIGTERM stops
it. Runs are then written one by one, in batches that let a running benchmark store
its values in between; a run being copied is marked `merging` and a merge that is
killed leaves no partial run behind (the next sevtui removes it), so merging again adds
what is missing. A run whose UUID is here already with the same content is skipped; a
run that continued after it was merged (it is not done here) is replaced by its longer
copy; any other clash, and a run without a UUID, is refused with the reason.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import sqlite3
import stat
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from sevtui.base.errors import SevtuiError, UsageError
from sevtui.base.proc import pid_alive, signals_handled
from sevtui.store.db import Store
from sevtui.store.merge_rows import CHECKS, BadValue, check_row
from sevtui.store.schema import MIGRATIONS, SCHEMA_VERSION

BUDGET_S = 900.0
"""Longest a merge may take, checks and writes together."""
MAX_SOURCE_BYTES = 16 << 30
BATCH_ROWS = 5000
"""Rows per write transaction: a running benchmark waits for one batch at most."""
SCRATCH_PREFIX = "sevtui-merge-"
_SCRATCH_RE = re.compile(rf"{SCRATCH_PREFIX}(\d+)-")
_CHILD_TABLES = ("run_targets", "results", "measurements", "attestations")


class MergeStopped(SevtuiError):
    """The merge ran out of time or was interrupted; what is written so far is whole."""


@dataclass(frozen=True)
class MergedFile:
    """What one source database brought: runs added, runs already here, probes added."""

    path: Path
    added: list[str]
    present: list[str]
    probes: int
    updated: list[str] = field(default_factory=list)
    """Runs that continued after an earlier merge: their longer copy replaced the old."""

    def to_json(self) -> dict[str, object]:
        """JSON row of `results merge --json`."""
        return {
            "file": str(self.path),
            "added": self.added,
            "updated": self.updated,
            "already_present": self.present,
            "probes_added": self.probes,
        }


class _Guard:
    """The merge's deadline and stop flag, polled by SQLite's progress handler."""

    def __init__(self, budget_s: float) -> None:
        self.budget_s = budget_s
        self.deadline = time.monotonic() + budget_s
        self.stopped = ""

    def poll(self) -> int:
        """Non-zero makes SQLite abandon the statement it is running."""
        if not self.stopped and time.monotonic() > self.deadline:
            self.stopped = f"it took longer than {self.budget_s:g} s"
        return 1 if self.stopped else 0

    def check(self) -> None:
        """Raise MergeStopped once the budget is spent or a stop was asked for."""
        if self.poll():
            raise MergeStopped(
                f"merge stopped: {self.stopped}",
                "runs merged before the stop are whole; merge again to add the rest",
            )


def _stoppable(guard: _Guard) -> contextlib.AbstractContextManager[None]:
    """Ctrl-C and SIGTERM set the guard's stop flag (SQLite then stops at its next poll)."""

    def stop(signum: int, _frame: FrameType | None) -> None:
        guard.stopped = f"interrupted ({signal.Signals(signum).name})"

    return signals_handled(stop, signal.SIGINT, signal.SIGTERM)


def merge(local: Store, paths: list[Path], budget_s: float = BUDGET_S) -> list[MergedFile]:
    """Merge every run of PATHS into LOCAL: all checked first, then written run by run."""
    guard = _Guard(budget_s)
    remove_stale_scratch(Path(tempfile.gettempdir()))
    with contextlib.ExitStack() as stack:
        stack.enter_context(_stoppable(guard))
        scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-"))
        stack.callback(shutil.rmtree, scratch, True)
        sources = []
        for index, path in enumerate(paths):
            source = _open_source(path, scratch / f"{index}.db", local.path, guard)
            stack.callback(source.close)
            source.conn.set_progress_handler(guard.poll, 10_000)
            with _naming(path, source.path):
                _check_all(source, path, guard)
            sources.append((path, source))
        local.conn.set_progress_handler(guard.poll, 10_000)
        stack.callback(local.conn.set_progress_handler, None, 0)
        writer = _Writer(local, guard)
        merged = []
        try:
            for path, source in sources:
                with _naming(path, source.path):
                    merged.append(writer.merge_source(source, path))
        except SevtuiError:
            guard.check()
            raise
        return merged


@contextlib.contextmanager
def _naming(path: Path, copy: Path) -> Iterator[None]:
    """Errors about the scratch COPY name the source PATH the user gave."""
    try:
        yield
    except MergeStopped:
        raise
    except SevtuiError as exc:
        if str(copy) not in exc.message:
            raise
        message = exc.message.replace(str(copy), str(path))
        raise SevtuiError(f"cannot merge {path}: {message}", exc.hint) from None


def remove_stale_scratch(folder: Path) -> None:
    """Scratch folders of merges whose process is gone (killed): ours, real folders only."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            found = _SCRATCH_RE.match(entry.name)
            if found is None or pid_alive(int(found.group(1))):
                continue
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid():
                shutil.rmtree(entry.path, ignore_errors=True)


# --- reading a source -------------------------------------------------------------------


def _open_source(path: Path, copy: Path, local: Path, guard: _Guard) -> Store:
    """PATH copied into COPY, its schema checked, upgraded: a Store on the copy."""
    _check_file(path, local)
    try:
        _backup(path, copy, guard)
        with contextlib.closing(sqlite3.connect(copy)) as check:
            version = int(check.execute("PRAGMA user_version").fetchone()[0])
            objects = _schema(check)
    except sqlite3.Error as exc:
        if guard.stopped:
            guard.check()
        raise SevtuiError(
            f"cannot merge {path}: not a readable SQLite database ({exc})",
            "nothing was merged; pass the sevtui.db a run wrote",
        ) from None
    if "runs" not in {name for _type, name, _sql in objects}:
        raise SevtuiError(
            f"cannot merge {path}: it is an SQLite database but not sevtui's (no runs table)",
            "nothing was merged; pass the sevtui.db a run wrote",
        )
    if 0 <= version <= SCHEMA_VERSION:
        _check_schema(path, objects, version)
    try:
        return Store(copy)
    except SevtuiError as exc:
        raise SevtuiError(
            f"cannot merge {path}: {exc.message.replace(str(copy), str(path))}",
            "nothing was merged",
        ) from None


def _check_file(path: Path, local: Path) -> None:
    """PATH must be a regular file of sane size, and not this sevtui's own database."""
    try:
        info = path.stat()
    except OSError as exc:
        raise UsageError(
            f"cannot merge {path}: {exc.strerror or exc}", "pass sevtui databases (sevtui.db)"
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"{path} is not a file", "pass sevtui databases (sevtui.db) to merge")
    if local.exists() and path.resolve() == local.resolve():
        raise UsageError(f"{path} is this sevtui's own database", "merge other databases into it")
    if info.st_size > MAX_SOURCE_BYTES:
        raise UsageError(
            f"cannot merge {path}: {info.st_size} bytes, more than the "
            f"{MAX_SOURCE_BYTES >> 30} GiB a merge reads",
            "merge a smaller database",
        )


def _backup(path: Path, copy: Path, guard: _Guard) -> None:
    """SQLite's online backup of PATH (opened read-only, exactly as named) into COPY."""
    uri = "file:" + urllib.parse.quote(str(path.absolute())) + "?mode=ro"

    def step(_status: int, _remaining: int, _total: int) -> None:
        guard.check()

    with (
        contextlib.closing(sqlite3.connect(uri, uri=True)) as source,
        contextlib.closing(sqlite3.connect(copy)) as target,
    ):
        source.backup(target, pages=4096, progress=step)


def _schema(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    """(type, name, SQL with white space folded) of every schema object, sorted."""
    rows = conn.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
    return sorted((kind, name, " ".join(str(sql or "").split())) for kind, name, sql in rows)


def _reference_schema(version: int) -> list[tuple[str, str, str]]:
    """The schema sevtui's own migrations give a database of VERSION."""
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        for migration in MIGRATIONS[:version]:
            for statement in migration:
                conn.execute(statement)
        return _schema(conn)


def _check_schema(path: Path, found: list[tuple[str, str, str]], version: int) -> None:
    """The source must hold exactly the tables and indexes sevtui made: a view, a
    trigger or a changed table could make reading it endless or harmful."""
    expected = _reference_schema(version)
    for kind, name, sql in found:
        if (kind, name, sql) not in expected:
            raise SevtuiError(
                f"cannot merge {path}: its {kind} {name!r} is not part of sevtui's schema "
                f"(version {version}): {sql[:120]}",
                "nothing was merged; merge databases that sevtui wrote, unchanged",
            )
    missing = [name for _kind, name, _sql in expected if name not in {n for _k, n, _s in found}]
    if missing:
        raise SevtuiError(
            f"cannot merge {path}: it lacks {', '.join(missing)} of sevtui's schema",
            "nothing was merged; merge databases that sevtui wrote, unchanged",
        )


def columns(conn: sqlite3.Connection, table: str) -> tuple[str, ...]:
    """The columns of TABLE that a merge copies: all but row ids and links to parents,
    read from the database itself, so a column a migration adds is merged too."""
    import sqlite_utils

    found = sqlite_utils.Database(conn).table(table).columns
    return tuple(c.name for c in found if c.name not in ("id", "run_id", "result_id"))


def _check_all(source: Store, path: Path, guard: _Guard) -> None:
    """Every value that would be merged, checked: the first bad one refuses the merge."""
    for table in CHECKS:
        names = columns(source.conn, table)
        for row in _rows(source, f"SELECT rowid, {', '.join(names)} FROM {table}", (), guard):
            try:
                check_row(table, names, row[1:])
            except BadValue as exc:
                raise SevtuiError(
                    f"cannot merge {path}: table {table}, row id {row[0]}, {exc}",
                    "nothing was merged; the database holds values sevtui would not store",
                ) from None


def _rows(
    store: Store, sql: str, params: tuple[Any, ...], guard: _Guard
) -> Iterator[tuple[Any, ...]]:
    """The rows of SQL in batches, the guard polled between them."""
    cursor = store.execute(sql, params)
    while True:
        guard.check()
        batch = cursor.fetchmany(BATCH_ROWS)
        if not batch:
            return
        yield from batch


# --- writing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Identity:
    """What says two copies of one run UUID are the same run, and how far each got."""

    label: str
    started: float
    status: str
    results: int
    measurements: int


def _identity(store: Store, run_id: int) -> _Identity:
    label, started, status = store.execute(
        "SELECT label, started, status FROM runs WHERE id = ?", (run_id,)
    ).fetchone()
    results = store.execute("SELECT COUNT(*) FROM results WHERE run_id = ?", (run_id,))
    values = store.execute("SELECT COUNT(*) FROM measurements WHERE run_id = ?", (run_id,))
    return _Identity(label, started, status, results.fetchone()[0], values.fetchone()[0])


@dataclass
class _Writer:
    """Writes checked runs into the local database, one run at a time, in batches."""

    local: Store
    guard: _Guard
    seen: set[str] = field(default_factory=set)

    def merge_source(self, source: Store, path: Path) -> MergedFile:
        """Every run of SOURCE that is new here (or continued since), then its probes."""
        done = MergedFile(path, [], [], 0)
        run_columns = columns(source.conn, "runs")
        runs = source.execute(f"SELECT id, {', '.join(run_columns)} FROM runs ORDER BY id")
        for row in runs.fetchall():
            record = dict(zip(run_columns, row[1:], strict=True))
            run_uuid = str(record["uuid"])
            verdict = self._verdict(source, row[0], run_uuid, path)
            if verdict == "present":
                done.present.append(run_uuid)
                continue
            self.seen.add(run_uuid)
            self._copy_run(source, row[0], record)
            (done.updated if verdict == "update" else done.added).append(run_uuid)
        return MergedFile(path, done.added, done.present, self._copy_probes(source), done.updated)

    def _verdict(self, source: Store, old_id: int, run_uuid: str, path: Path) -> str:
        """new, present, or update (after the stale local copy was removed)."""
        if run_uuid in self.seen:
            return "present"
        here = self.local.execute(
            "SELECT id, status, pid FROM runs WHERE uuid = ?", (run_uuid,)
        ).fetchone()
        if here is None:
            return "new"
        local_id, status, pid = here
        if status == "merging" and (pid is None or not pid_alive(int(pid))):
            self.local.discard_run(local_id)
            return "new"
        mine, theirs = _identity(self.local, local_id), _identity(source, old_id)
        same_run = (mine.label, mine.started) == (theirs.label, theirs.started)
        mine_size, theirs_size = (
            (mine.results, mine.measurements),
            (theirs.results, theirs.measurements),
        )
        if same_run and mine_size == theirs_size:
            return "present"
        grown = all(t >= m for t, m in zip(theirs_size, mine_size, strict=True))
        if same_run and grown and mine.status not in ("done", "merging"):
            self.local.discard_run(local_id)
            return "update"
        raise SevtuiError(
            f"cannot merge {path}: run {run_uuid} is here already with other content "
            f"(here: {mine.label!r}, {mine.status}, {mine.measurements} values; there: "
            f"{theirs.label!r}, {theirs.status}, {theirs.measurements} values)",
            "two runs share a UUID; runs merged before this one are kept",
        )

    def _copy_run(self, source: Store, old_id: int, record: dict[str, Any]) -> None:
        """The run row first (status `merging`, owned by this process), then its rows in
        batches, then its real status: a kill in between leaves a run the next sevtui
        removes, never a partial one that looks whole."""
        final = {**record, "pid": None}
        if final["status"] == "running":
            final["status"] = "interrupted"
            final["reason"] = "it was still running where it was measured when this copy was made"
        with self.local.transaction():
            new_id = _insert(self.local, "runs", {**final, "status": "merging", "pid": os.getpid()})
        try:
            result_ids: dict[int, int] = {}
            for table in _CHILD_TABLES:
                self._copy_children(source, table, (old_id, new_id), result_ids)
            with self.local.transaction():
                self.local.execute(
                    "UPDATE runs SET status = ?, reason = ?, pid = NULL WHERE id = ?",
                    (final["status"], final["reason"], new_id),
                )
        except BaseException:
            self.local.conn.set_progress_handler(None, 0)
            self.local.discard_run(new_id)
            raise

    def _copy_children(
        self, source: Store, table: str, ids: tuple[int, int], result_ids: dict[int, int]
    ) -> None:
        old_id, new_id = ids
        names = columns(source.conn, table)
        extra = ", result_id" if table == "measurements" else ""
        wanted = f"rowid{extra}, {', '.join(names)}"
        sql = f"SELECT {wanted} FROM {table} WHERE run_id = ? ORDER BY rowid"
        batch: list[tuple[Any, ...]] = []
        for row in _rows(source, sql, (old_id,), self.guard):
            batch.append(row)
            if len(batch) >= BATCH_ROWS:
                self._write_batch(table, names, batch, (new_id, result_ids))
                batch = []
        if batch:
            self._write_batch(table, names, batch, (new_id, result_ids))

    def _write_batch(
        self,
        table: str,
        names: tuple[str, ...],
        batch: list[tuple[Any, ...]],
        link: tuple[int, dict[int, int]],
    ) -> None:
        """One transaction of rows; results remember their new ids for measurements."""
        new_id, result_ids = link
        skip = 2 if table == "measurements" else 1
        with self.local.transaction():
            for row in batch:
                values = {"run_id": new_id, **dict(zip(names, row[skip:], strict=True))}
                if table == "measurements":
                    values["result_id"] = result_ids[row[1]]
                inserted = _insert(self.local, table, values)
                if table == "results":
                    result_ids[row[0]] = inserted

    def _copy_probes(self, source: Store) -> int:
        """Memory probes the local database does not hold yet (same VM, time, process)."""
        names = columns(source.conn, "probes")
        copied = 0
        for row in _rows(source, f"SELECT {', '.join(names)} FROM probes", (), self.guard):
            probe = dict(zip(names, row, strict=True))
            known = self.local.execute(
                "SELECT 1 FROM probes WHERE vm = ? AND kind = ? AND method = ? AND created = ? "
                "AND qemu_pid IS ?",
                (probe["vm"], probe["kind"], probe["method"], probe["created"], probe["qemu_pid"]),
            ).fetchone()
            if not known:
                with self.local.transaction():
                    _insert(self.local, "probes", probe)
                copied += 1
        return copied


def _insert(store: Store, table: str, values: dict[str, Any]) -> int:
    names = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    cursor = store.execute(
        f"INSERT INTO {table} ({names}) VALUES ({marks})", tuple(values.values())
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid
