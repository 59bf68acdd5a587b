"""The results database (SQLite through the standard sqlite3 module): schema, migrations, queries.

WAL and a busy timeout let two sevtui processes share one file. Each measured
repetition is one transaction, committed the moment it is parsed, so a kill
loses nothing that was reported stored. Open a Store in the thread that uses it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
import uuid
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from sevtui.base.errors import SevtuiError, UsageError
from sevtui.base.names import check_label, check_name
from sevtui.base.proc import pid_alive
from sevtui.base.values import Value
from sevtui.store.rows import (
    AttestationRow,
    ProbeRow,
    RepetitionRecord,
    ResultRow,
    RunInfo,
    RunRow,
    Sample,
    Series,
    StoredFacts,
    per_repetition,
)
from sevtui.store.schema import MIGRATIONS, SCHEMA_VERSION

T = TypeVar("T")
BUSY_TIMEOUT_MS = 5000
WRITE_RETRY_S = 60.0
"""How long a measured value keeps trying to reach a busy database (a merge in batches,
another sevtui) before its run fails with the reason."""


class DatabaseBusy(SevtuiError):
    """Another connection held the database's write lock past the busy timeout."""


class Store:
    """One connection to the results database."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.read_only = _exists_read_only(path)
        try:
            if not self.read_only:
                path.parent.mkdir(parents=True, exist_ok=True)
            # On read-only media nobody can write either, and SQLite cannot create the WAL
            # index next to the file: open it as immutable.
            immutable = "&immutable=1" if not os.access(path.parent, os.W_OK) else ""
            target = f"file:{path}?mode=ro{immutable}" if self.read_only else str(path)
            conn = sqlite3.connect(
                target,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                uri=self.read_only,
            )
        except (OSError, sqlite3.Error) as exc:
            raise SevtuiError(
                f"cannot open the results database {path}: {exc}",
                "check paths.database / --db and that its folder is writable",
            ) from None
        self.conn = conn
        self._execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if not self.read_only:
            # Switching a new file to WAL takes an exclusive lock that SQLite does not wait
            # for: another connection doing the same at that moment fails it at once.
            _retrying(lambda: self._execute("PRAGMA journal_mode = WAL"))
            self._execute("PRAGMA synchronous = NORMAL")
        self._migrate()

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def _execute(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, tuple(params))
        except sqlite3.Error as exc:
            raise self._mapped(exc) from None

    def _executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        try:
            self.conn.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise self._mapped(exc) from None

    def _mapped(self, exc: sqlite3.Error) -> SevtuiError:
        """A database error in words: busy, broken file, or what SQLite said."""
        if isinstance(exc, sqlite3.OperationalError) and (
            "locked" in str(exc) or "busy" in str(exc)
        ):
            return DatabaseBusy(
                f"database busy: {self.path} stayed locked for {BUSY_TIMEOUT_MS / 1000:g} s",
                "another sevtui holds a long transaction; retry in a moment",
            )
        if "readonly" in str(exc):
            return SevtuiError(
                f"{self.path} is read-only: results can be read from it, not written",
                "pass a writable database with --db (or copy this one)",
            )
        if isinstance(exc, sqlite3.OperationalError | sqlite3.IntegrityError):
            return SevtuiError(f"database error in {self.path}: {exc}")
        return SevtuiError(
            f"{self.path} is not a usable sevtui database: {exc}", "pass another file with --db"
        )

    def _migrate(self) -> None:
        version = int(self._execute("PRAGMA user_version").fetchone()[0])
        if version < 0:
            raise SevtuiError(
                f"{self.path} has schema version {version}, which no sevtui writes",
                "it is not a sevtui database, or it was damaged: use another --db",
            )
        if version > SCHEMA_VERSION:
            raise SevtuiError(
                f"{self.path} has schema version {version}, newer than this sevtui "
                f"({SCHEMA_VERSION})",
                "upgrade sevtui or use another --db",
            )
        if self.read_only and version < SCHEMA_VERSION:
            raise SevtuiError(
                f"{self.path} is read-only and has schema version {version}; this sevtui "
                f"reads version {SCHEMA_VERSION}",
                "open it once with write access so it can be upgraded, or copy it",
            )
        for number in range(version, SCHEMA_VERSION):
            with self._transaction():
                # Another connection may have upgraded it meanwhile (two threads opening a
                # new database at once): the version is read again under the write lock.
                if int(self._execute("PRAGMA user_version").fetchone()[0]) > number:
                    continue
                for statement in MIGRATIONS[number]:
                    self._execute(statement)
                self._execute(f"PRAGMA user_version = {number + 1}")

    def _transaction(self) -> _Transaction:
        return _Transaction(self)

    def transaction(self) -> _Transaction:
        """BEGIN IMMEDIATE ... COMMIT around several writes (a merge): all or nothing."""
        return _Transaction(self)

    def execute(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        """One statement, with SQLite's errors in words (for the merge's row copies)."""
        return self._execute(sql, params)

    # --- writes -------------------------------------------------------------------------

    def create_run(
        self,
        label: str,
        status: str,
        suite: str | None = None,
        repetitions: int | None = None,
        targets: list[str] | None = None,
        provenance: dict[str, Any] | None = None,
    ) -> int:
        """A new run row owned by this process; returns its id."""
        check_label(label)
        for target in targets or []:
            check_name(target, "target")
        with self._transaction():
            cursor = self._execute(
                "INSERT INTO runs (label, status, suite, repetitions, targets, started, pid, "
                "provenance, uuid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    label,
                    status,
                    suite,
                    repetitions,
                    json.dumps(targets or [], allow_nan=False),
                    time.time(),
                    os.getpid(),
                    json.dumps(provenance or {}, default=str, allow_nan=False),
                    str(uuid.uuid4()),
                ),
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def set_target(self, run_id: int, target: str, kind: str, info: dict[str, Any]) -> None:
        """Record what one target of a run was (profile, argv, kernel, firmware hash...)."""
        with self._transaction():
            self._execute(
                "INSERT OR REPLACE INTO run_targets (run_id, target, kind, info) VALUES (?,?,?,?)",
                (run_id, target, kind, json.dumps(info, default=str, allow_nan=False)),
            )

    def record(self, run_id: int, outcome: RepetitionRecord) -> int:
        """One repetition's outcome and its values, committed together; a busy database
        is retried for WRITE_RETRY_S before the error reaches the run."""

        def write() -> int:
            with self._transaction():
                return self._insert_result(run_id, outcome)

        return _retrying(write)

    def import_run(
        self, label: str, profile: str, items: list[tuple[str, str, str, list[Value]]], notes: str
    ) -> int:
        """A whole imported run in one transaction: (benchmark, category, source, values).

        Each value's `repetition` says which complete program run (or CSV row) it came
        from, so every imported repetition is one sample.
        """
        check_label(label)
        check_name(profile, "profile")
        for benchmark, _category, _source, values in items:
            check_name(benchmark, "benchmark")
            for value in values:
                check_name(value.metric, "metric")
        with self._transaction():
            cursor = self._execute(
                "INSERT INTO runs (label, status, targets, started, finished, notes, uuid) "
                "VALUES (?, 'imported', ?, ?, ?, ?, ?)",
                (
                    label,
                    json.dumps([profile], allow_nan=False),
                    time.time(),
                    time.time(),
                    notes,
                    str(uuid.uuid4()),
                ),
            )
            run_id = cursor.lastrowid
            assert run_id is not None
            self._execute(
                "INSERT INTO run_targets (run_id, target, kind, info) VALUES (?, ?, 'imported', ?)",
                (run_id, profile, json.dumps({"imported_from": notes}, allow_nan=False)),
            )
            for benchmark, category, source, values in items:
                by_repetition: dict[int, list[Value]] = {}
                for value in values:
                    by_repetition.setdefault(value.repetition, []).append(value)
                for repetition, group in by_repetition.items():
                    self._insert_result(
                        run_id,
                        RepetitionRecord(
                            profile,
                            benchmark,
                            category,
                            repetition,
                            "ok",
                            group,
                            message=f"imported from {source}",
                        ),
                    )
        return run_id

    def _insert_result(self, run_id: int, outcome: RepetitionRecord) -> int:
        cursor = self._execute(
            "INSERT INTO results (run_id, target, benchmark, category, repetition, status, "
            "seconds, message, output, created, busy, conditions, launch, position, qemu_pid, "
            "qemu_started, pilot) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                run_id,
                outcome.target,
                outcome.benchmark,
                outcome.category,
                outcome.repetition,
                outcome.status,
                outcome.seconds,
                outcome.message,
                zlib.compress(outcome.output.encode(), 6) if outcome.output else None,
                time.time(),
                int(outcome.busy),
                json.dumps(outcome.conditions, allow_nan=False),
                outcome.launch,
                outcome.position,
                *(outcome.qemu or (None, None)),
                int(outcome.pilot),
            ),
        )
        result_id = cursor.lastrowid
        self._executemany(
            "INSERT INTO measurements (result_id, run_id, target, benchmark, category, "
            "metric, unit, direction, repetition, sub, value, launch, pilot) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    result_id,
                    run_id,
                    outcome.target,
                    value.benchmark or outcome.benchmark,
                    outcome.category,
                    value.metric,
                    value.unit,
                    value.direction,
                    outcome.repetition,
                    index,
                    value.value,
                    outcome.launch,
                    int(outcome.pilot),
                )
                for index, value in enumerate(outcome.values)
            ],
        )
        assert result_id is not None
        return result_id

    def record_probe(self, probe: ProbeRow) -> None:
        """Store one memory-exposure probe (its creation time is now)."""
        with self._transaction():
            self._execute(
                "INSERT INTO probes (vm, kind, method, found, hits, bytes_scanned, seconds, "
                "throughput_gbps, created, reason, qemu_pid, qemu_started) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    probe.vm,
                    probe.kind,
                    probe.method,
                    int(probe.found),
                    probe.hits,
                    probe.bytes_scanned,
                    probe.seconds,
                    probe.throughput_gbps,
                    time.time(),
                    probe.reason,
                    probe.qemu_pid,
                    probe.qemu_started,
                ),
            )

    def record_attestation(self, row: AttestationRow) -> None:
        """Store one attestation outcome."""
        with self._transaction():
            self._execute(
                "INSERT INTO attestations (vm, run_id, status, measurement, reasons, document, "
                "created) VALUES (?,?,?,?,?,?,?)",
                (
                    row.vm,
                    row.run_id,
                    row.status,
                    row.measurement,
                    json.dumps(row.reasons, allow_nan=False),
                    json.dumps(row.document, allow_nan=False, default=str),
                    row.created,
                ),
            )

    def last_attestations(self) -> dict[str, AttestationRow]:
        """The newest attestation of each VM."""
        rows = self._execute(
            "SELECT vm, status, measurement, reasons, document, created, run_id "
            "FROM attestations WHERE id IN (SELECT MAX(id) FROM attestations GROUP BY vm)"
        ).fetchall()
        return {
            vm: AttestationRow(
                vm, status, measurement, json.loads(reasons), json.loads(doc), created, run_id
            )
            for vm, status, measurement, reasons, doc, created, run_id in rows
        }

    def last_probe(self, vm: str) -> ProbeRow | None:
        """The newest probe of VM."""
        row = self._execute(
            "SELECT vm, kind, method, found, hits, bytes_scanned, seconds, throughput_gbps, "
            "created, reason, qemu_pid, qemu_started FROM probes WHERE vm = ? "
            "ORDER BY id DESC LIMIT 1",
            (vm,),
        ).fetchone()
        if row is None:
            return None
        name, kind, method, found, hits, scanned, seconds, throughput, created, reason = row[:10]
        return ProbeRow(
            name,
            kind,
            method,
            bool(found),
            hits,
            scanned,
            seconds,
            throughput,
            created,
            reason,
            *row[10:],
        )

    def finish_run(self, run_id: int, status: str, reason: str = "") -> None:
        """Mark a run done / interrupted / failed, with the reason for anything but done
        (retried while the database is busy, so a run does not stay `running`)."""

        def write() -> None:
            with self._transaction():
                self._execute(
                    "UPDATE runs SET status = ?, reason = ?, finished = ?, pid = NULL WHERE id = ?",
                    (status, reason, time.time(), run_id),
                )

        _retrying(write)

    def reopen_run(self, run_id: int) -> None:
        """A resumed run is running again, owned by this process."""
        with self._transaction():
            self._execute(
                "UPDATE runs SET status = 'running', finished = NULL, pid = ? WHERE id = ?",
                (os.getpid(), run_id),
            )

    def mark_orphans(self) -> None:
        """Runs left 'running' by a process that is gone become 'interrupted'; runs a
        killed merge was still copying ('merging') are removed (merging again adds them)."""
        if self.read_only:
            return
        rows = self._execute(
            "SELECT id, pid, status FROM runs WHERE status IN ('running', 'merging')"
        ).fetchall()
        for run_id, pid, status in rows:
            if pid is not None and pid_alive(int(pid)):
                continue
            if status == "merging":
                self.discard_run(int(run_id))
            else:
                self.finish_run(int(run_id), "interrupted", "the sevtui process running it is gone")

    def discard_run(self, run_id: int) -> None:
        """Remove run RUN_ID and everything that belongs to it (one transaction)."""
        with self._transaction():
            for table in ("measurements", "results", "run_targets", "attestations", "runs"):
                column = "id" if table == "runs" else "run_id"
                self._execute(f"DELETE FROM {table} WHERE {column} = ?", (run_id,))

    # --- reads --------------------------------------------------------------------------

    def runs(self) -> list[RunInfo]:
        """Every run, newest first, with its measurement count."""
        self.mark_orphans()
        rows = self._execute(
            "SELECT r.id, r.label, r.status, r.suite, r.targets, r.started, r.finished, "
            "(SELECT COUNT(*) FROM measurements m WHERE m.run_id = r.id) "
            "FROM runs r ORDER BY r.id DESC"
        ).fetchall()
        return [
            RunInfo(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5], row[6], row[7])
            for row in rows
        ]

    def run(self, run_id: int) -> RunRow:
        """One run row with its targets."""
        row = self._execute(
            "SELECT id, label, status, suite, repetitions, targets, started, finished, notes, "
            "provenance, reason, uuid FROM runs WHERE id = ?",
            (run_id,),
        ).fetchone()
        if row is None:
            raise UsageError(f"no run with id {run_id}", "see `sevtui results list`")
        target_info = {
            target: {"kind": kind, **json.loads(info)}
            for target, kind, info in self._execute(
                "SELECT target, kind, info FROM run_targets WHERE run_id = ?", (run_id,)
            ).fetchall()
        }
        number, label, status, suite, repetitions, targets, started, finished = row[:8]
        notes, provenance, reason, run_uuid = row[8:]
        return RunRow(
            number,
            label,
            status,
            suite,
            repetitions,
            json.loads(targets),
            started,
            finished,
            notes,
            json.loads(provenance),
            reason,
            target_info,
            run_uuid or "",
        )

    def resolve(self, ref: str) -> list[int]:
        """Run ids for REF: a numeric id, or every run with that label."""
        if ref.isdigit():
            exists = self._execute("SELECT 1 FROM runs WHERE id = ?", (int(ref),)).fetchone()
            if exists:
                return [int(ref)]
        ids = [
            int(row[0])
            for row in self._execute(
                "SELECT id FROM runs WHERE label = ? AND status != 'merging' ORDER BY id", (ref,)
            )
        ]
        if not ids:
            raise UsageError(
                f"no run with id or label {ref!r}", "see `sevtui results list` for ids and labels"
            )
        return ids

    def series(self, run_ids: list[int]) -> list[Series]:
        """Per (target, benchmark, metric, unit): one value per repetition, in first-seen order.

        SQLite groups the rows and hands over each group as one text (exact to the last
        digit with %!.17g), so 100,000 measurements cost 1,000 rows, not 100,000.
        """
        marks = ",".join("?" * len(run_ids))
        rows = self._execute(
            "SELECT target, benchmark, MIN(category), metric, unit, MIN(direction), "
            "group_concat((run_id << 32 | repetition) || ' ' || launch || ' ' || "
            "printf('%!.17g', value), ' ') "
            f"FROM measurements WHERE run_id IN ({marks}) AND pilot = 0 "
            "GROUP BY target, benchmark, metric, unit ORDER BY MIN(id)",
            run_ids,
        ).fetchall()
        return [
            Series(target, bench, category, metric, unit, direction, *per_repetition(packed))
            for target, bench, category, metric, unit, direction, packed in rows
        ]

    def samples(self, run_ids: list[int]) -> list[Sample]:
        """One value per metric and repetition (values inside one program run averaged)."""
        return [
            Sample(
                run_id,
                s.target,
                s.benchmark,
                s.category,
                s.metric,
                s.unit,
                s.direction,
                rep,
                v,
                s.launches.get((run_id, rep), 1),
            )
            for s in self.series(run_ids)
            for (run_id, rep), v in s.values.items()
        ]

    def stored_facts(self, run_ids: list[int]) -> StoredFacts:
        """Each target's info, busy repetitions per (target, benchmark), run modes."""
        marks = ",".join("?" * len(run_ids))
        targets = [
            (str(target), json.loads(text))
            for target, text in self._execute(
                f"SELECT target, info FROM run_targets WHERE run_id IN ({marks})", run_ids
            ).fetchall()
        ]
        busy = {
            (str(target), str(benchmark)): int(count)
            for target, benchmark, count in self._execute(
                "SELECT target, benchmark, COUNT(*) FROM results WHERE busy = 1 AND "
                f"run_id IN ({marks}) GROUP BY target, benchmark",
                run_ids,
            ).fetchall()
        }
        run_modes = frozenset(
            str(json.loads(text).get("mode", "interleaved"))
            for status, text in self._execute(
                f"SELECT status, provenance FROM runs WHERE id IN ({marks})", run_ids
            ).fetchall()
            if status != "imported"
        )
        return StoredFacts(targets, busy, run_modes)

    def results(self, run_id: int) -> list[ResultRow]:
        """Per-repetition outcomes of a run (without the raw output)."""
        rows = self._execute(
            "SELECT id, target, benchmark, category, repetition, status, seconds, message, "
            "launch, position, qemu_pid, pilot FROM results WHERE run_id = ? ORDER BY id",
            (run_id,),
        ).fetchall()
        names = ("id", "target", "benchmark", "category", "repetition", "status", "seconds")
        return [
            ResultRow(
                **dict(zip(names, row[:7], strict=True)),
                message=row[7],
                launch=row[8],
                position=row[9],
                qemu_pid=row[10],
                pilot=bool(row[11]),
            )
            for row in rows
        ]

    def done_repetitions(self, run_id: int) -> dict[tuple[str, str], set[int]]:
        """(target, benchmark) -> repetitions that finished (ok or unavailable)."""
        done: dict[tuple[str, str], set[int]] = {}
        for target, benchmark, repetition in self._execute(
            "SELECT target, benchmark, repetition FROM results WHERE run_id = ? "
            "AND status IN ('ok', 'unavailable')",
            (run_id,),
        ):
            done.setdefault((target, benchmark), set()).add(int(repetition))
        return done

    def output(self, run_id: int, target: str, benchmark: str, repetition: int) -> str:
        """What one repetition printed (the last stored attempt), or a UsageError."""
        row = self._execute(
            "SELECT output FROM results WHERE run_id = ? AND target = ? AND benchmark = ? "
            "AND repetition = ? ORDER BY id DESC LIMIT 1",
            (run_id, target, benchmark, repetition),
        ).fetchone()
        if row is None:
            raise UsageError(
                f"run {run_id} has no repetition {repetition} of {benchmark} on {target}",
                f"see `sevtui results show {run_id} --details` for what it holds",
            )
        try:
            return zlib.decompress(row[0]).decode(errors="replace") if row[0] else ""
        except zlib.error:
            raise SevtuiError(
                f"the stored output of {target}/{benchmark} repetition {repetition} is damaged"
            ) from None

    def unavailable(self, run_id: int, benchmark: str) -> set[str]:
        """The targets of RUN_ID that recorded BENCHMARK as unavailable."""
        rows = self._execute(
            "SELECT DISTINCT target FROM results WHERE run_id = ? AND benchmark = ? "
            "AND status = 'unavailable'",
            (run_id, benchmark),
        ).fetchall()
        return {str(row[0]) for row in rows}

    def repetition_values(
        self, run_id: int, target: str, benchmark: str, repetitions: list[int]
    ) -> dict[str, list[float]]:
        """Metric -> one value per repetition among REPETITIONS (pilot runs included;
        several values of one repetition averaged), for the adaptive mode's decision."""
        marks = ",".join("?" * len(repetitions))
        rows = self._execute(
            "SELECT metric, AVG(value) FROM measurements WHERE run_id = ? AND target = ? "
            f"AND benchmark = ? AND repetition IN ({marks}) GROUP BY metric, repetition "
            "ORDER BY metric, repetition",
            (run_id, target, benchmark, *repetitions),
        ).fetchall()
        values: dict[str, list[float]] = {}
        for metric, value in rows:
            values.setdefault(str(metric), []).append(float(value))
        return values

    def last_seconds(self, target: str, benchmark: str) -> float | None:
        """Longest successful repetition of this benchmark on this target in its last run."""
        row = self._execute(
            "SELECT MAX(seconds) FROM results WHERE target = ? AND benchmark = ? AND status = 'ok'"
            " AND run_id = (SELECT MAX(run_id) FROM results WHERE target = ? AND benchmark = ? "
            "AND status = 'ok')",
            (target, benchmark, target, benchmark),
        ).fetchone()
        return float(row[0]) if row and row[0] is not None else None


def _retrying(write: Callable[[], T]) -> T:
    """WRITE, tried again while the database stays busy, for WRITE_RETRY_S at most."""
    deadline = time.monotonic() + WRITE_RETRY_S
    while True:
        try:
            return write()
        except DatabaseBusy:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def __enter__(self) -> None:
        self.store._execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            try:
                self.store._execute("COMMIT")
            except SevtuiError:
                self._roll_back()
                raise
        else:
            self._roll_back()

    def _roll_back(self) -> None:
        """Undo what the transaction wrote; SQLite may already have rolled back (disk full),
        and that must not hide the error that caused it."""
        if self.store.conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self.store.conn.execute("ROLLBACK")


def _exists_read_only(path: Path) -> bool:
    """True for an existing database file this process may read but not write."""
    if not path.exists():
        return False
    if not path.is_file():
        raise SevtuiError(
            f"{path} is not a regular file, so it cannot hold a results database",
            "pass a file with --db (it is created when missing)",
        )
    return os.access(path, os.R_OK) and not (
        os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
    )
