"""`results merge`: copy runs from other sevtui databases into this one, by run UUID.

Every source is read through SQLite's backup API into a private temporary copy (its WAL
included, the original untouched), upgraded there to this sevtui's schema, and only then
is anything written: all sources' new runs go into the local database in one
transaction. A run whose UUID is already here is skipped, so merging twice changes
nothing. Runs come with their targets, repetitions (raw outputs included), measurements
and attestations; memory probes (not tied to a run) are copied when not already here.
"""

from __future__ import annotations

import sqlite3
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from sevtui.errors import SevtuiError, UsageError
from sevtui.store import Store

RUN_COLUMNS = (
    "uuid, label, status, suite, repetitions, targets, started, finished, pid, notes, "
    "provenance, reason"
)
RESULT_COLUMNS = (
    "target, benchmark, category, repetition, status, seconds, message, output, created, "
    "busy, conditions"
)
MEASUREMENT_COLUMNS = "target, benchmark, category, metric, unit, direction, repetition, sub, value"
ATTESTATION_COLUMNS = "vm, status, measurement, reasons, document, created"
PROBE_COLUMNS = (
    "vm, kind, method, found, hits, bytes_scanned, seconds, throughput_gbps, created, reason, "
    "qemu_pid, qemu_started"
)


@dataclass(frozen=True)
class MergedFile:
    """What one source database brought: runs added, runs already here, probes added."""

    path: Path
    added: list[str]
    present: list[str]
    probes: int

    def to_json(self) -> dict[str, object]:
        """JSON row of `results merge --json`."""
        return {
            "file": str(self.path),
            "added": self.added,
            "already_present": self.present,
            "probes_added": self.probes,
        }


def merge(local: Store, paths: list[Path]) -> list[MergedFile]:
    """Merge every run of PATHS into LOCAL, all or nothing."""
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sevtui-merge-")))
        sources = []
        for index, path in enumerate(paths):
            copy = _private_copy(path, scratch / f"{index}.db", local.path)
            try:
                source = Store(copy)
            except SevtuiError as exc:
                reason = exc.message.replace(str(copy), str(path))
                raise SevtuiError(f"cannot merge {path}: {reason}", "nothing was merged") from None
            stack.callback(source.close)
            sources.append((path, source))
        seen: set[str] = set()
        merged = []
        with local.transaction():
            for path, source in sources:
                merged.append(_merge_one(local, source, path, seen))
        return merged


def _private_copy(path: Path, copy: Path, local: Path) -> Path:
    """PATH read (WAL included) into COPY, refused with the reason when it is no database."""
    if not path.is_file():
        raise UsageError(f"{path} is not a file", "pass sevtui databases (sevtui.db) to merge")
    if path.resolve() == local.resolve():
        raise UsageError(f"{path} is this sevtui's own database", "merge other databases into it")
    try:
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            target = sqlite3.connect(copy)
            try:
                source.backup(target)
            finally:
                target.close()
        finally:
            source.close()
        with sqlite3.connect(copy) as check:
            tables = {row[0] for row in check.execute("SELECT name FROM sqlite_master")}
    except sqlite3.Error as exc:
        raise SevtuiError(
            f"cannot merge {path}: not a readable SQLite database ({exc})",
            "nothing was merged; pass the sevtui.db a run wrote",
        ) from None
    if "runs" not in tables:
        raise SevtuiError(
            f"cannot merge {path}: it is an SQLite database but not sevtui's (no runs table)",
            "nothing was merged; pass the sevtui.db a run wrote",
        )
    return copy


def _merge_one(local: Store, source: Store, path: Path, seen: set[str]) -> MergedFile:
    """Copy SOURCE's runs that LOCAL (and earlier sources of this merge) do not have."""
    added, present = [], []
    runs = source.execute(f"SELECT id, {RUN_COLUMNS} FROM runs ORDER BY id").fetchall()
    for row in runs:
        old_id, run_uuid = row[0], row[1]
        known = local.execute("SELECT 1 FROM runs WHERE uuid = ?", (run_uuid,)).fetchone()
        if known or run_uuid in seen:
            present.append(run_uuid)
            continue
        seen.add(run_uuid)
        cursor = local.execute(
            f"INSERT INTO runs ({RUN_COLUMNS}) VALUES ({_marks(RUN_COLUMNS)})", row[1:]
        )
        assert cursor.lastrowid is not None
        _copy_run_rows(local, source, old_id, cursor.lastrowid)
        added.append(run_uuid)
    return MergedFile(path, added, present, _copy_probes(local, source))


def _copy_run_rows(local: Store, source: Store, old_id: int, new_id: int) -> None:
    """A run's targets, results with their measurements, and attestations, renumbered."""
    for target in source.execute(
        "SELECT target, kind, info FROM run_targets WHERE run_id = ?", (old_id,)
    ).fetchall():
        local.execute(
            "INSERT INTO run_targets (run_id, target, kind, info) VALUES (?, ?, ?, ?)",
            (new_id, *target),
        )
    results = source.execute(
        f"SELECT id, {RESULT_COLUMNS} FROM results WHERE run_id = ? ORDER BY id", (old_id,)
    ).fetchall()
    for result in results:
        cursor = local.execute(
            f"INSERT INTO results (run_id, {RESULT_COLUMNS}) VALUES (?, {_marks(RESULT_COLUMNS)})",
            (new_id, *result[1:]),
        )
        for measurement in source.execute(
            f"SELECT {MEASUREMENT_COLUMNS} FROM measurements WHERE result_id = ? ORDER BY id",
            (result[0],),
        ).fetchall():
            local.execute(
                f"INSERT INTO measurements (result_id, run_id, {MEASUREMENT_COLUMNS}) "
                f"VALUES (?, ?, {_marks(MEASUREMENT_COLUMNS)})",
                (cursor.lastrowid, new_id, *measurement),
            )
    for attestation in source.execute(
        f"SELECT {ATTESTATION_COLUMNS} FROM attestations WHERE run_id = ? ORDER BY id", (old_id,)
    ).fetchall():
        local.execute(
            f"INSERT INTO attestations (run_id, {ATTESTATION_COLUMNS}) "
            f"VALUES (?, {_marks(ATTESTATION_COLUMNS)})",
            (new_id, *attestation),
        )


def _copy_probes(local: Store, source: Store) -> int:
    """Memory probes the local database does not hold yet (same VM, time, process)."""
    copied = 0
    for probe in source.execute(f"SELECT {PROBE_COLUMNS} FROM probes ORDER BY id").fetchall():
        known = local.execute(
            "SELECT 1 FROM probes WHERE vm = ? AND kind = ? AND method = ? AND created = ? "
            "AND qemu_pid IS ?",
            (probe[0], probe[1], probe[2], probe[8], probe[10]),
        ).fetchone()
        if not known:
            local.execute(
                f"INSERT INTO probes ({PROBE_COLUMNS}) VALUES ({_marks(PROBE_COLUMNS)})", probe
            )
            copied += 1
    return copied


def _marks(columns: str) -> str:
    return ", ".join("?" for _ in columns.split(","))
