"""The results database's schema: its migrations, in order (user_version counts them)."""

from __future__ import annotations

SQL_UUID4 = (
    "lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || "
    "substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + abs(random()) % 4, 1) "
    "|| substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6)))"
)
"""A random (version 4) UUID in SQL: runs stored before UUIDs existed get one."""

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            label TEXT NOT NULL,
            status TEXT NOT NULL,
            suite TEXT,
            repetitions INTEGER,
            targets TEXT NOT NULL DEFAULT '[]',
            started REAL NOT NULL,
            finished REAL,
            pid INTEGER,
            notes TEXT NOT NULL DEFAULT '',
            provenance TEXT NOT NULL DEFAULT '{}'
        )""",
        """CREATE TABLE run_targets (
            run_id INTEGER NOT NULL REFERENCES runs(id),
            target TEXT NOT NULL,
            kind TEXT NOT NULL,
            info TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (run_id, target)
        )""",
        """CREATE TABLE results (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id),
            target TEXT NOT NULL,
            benchmark TEXT NOT NULL,
            category TEXT NOT NULL,
            repetition INTEGER NOT NULL,
            status TEXT NOT NULL,
            seconds REAL,
            message TEXT NOT NULL DEFAULT '',
            output BLOB,
            created REAL NOT NULL
        )""",
        """CREATE TABLE measurements (
            id INTEGER PRIMARY KEY,
            result_id INTEGER NOT NULL REFERENCES results(id),
            run_id INTEGER NOT NULL REFERENCES runs(id),
            target TEXT NOT NULL,
            benchmark TEXT NOT NULL,
            category TEXT NOT NULL,
            metric TEXT NOT NULL,
            unit TEXT NOT NULL,
            direction TEXT NOT NULL,
            repetition INTEGER NOT NULL,
            sub INTEGER NOT NULL DEFAULT 0,
            value REAL NOT NULL
        )""",
        "CREATE INDEX measurements_run ON measurements(run_id, target, benchmark)",
        "CREATE INDEX results_run ON results(run_id, target, benchmark)",
        "CREATE INDEX runs_label ON runs(label)",
    ),
    (
        """CREATE TABLE probes (
            id INTEGER PRIMARY KEY,
            vm TEXT NOT NULL,
            kind TEXT NOT NULL,
            method TEXT NOT NULL,
            found INTEGER NOT NULL,
            hits INTEGER NOT NULL,
            bytes_scanned INTEGER NOT NULL,
            seconds REAL NOT NULL,
            throughput_gbps REAL NOT NULL,
            created REAL NOT NULL
        )""",
    ),
    (
        "ALTER TABLE runs ADD COLUMN reason TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE results ADD COLUMN busy INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE results ADD COLUMN conditions TEXT NOT NULL DEFAULT '{}'",
    ),
    (
        "ALTER TABLE probes ADD COLUMN reason TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE probes ADD COLUMN qemu_pid INTEGER",
        "ALTER TABLE probes ADD COLUMN qemu_started REAL",
    ),
    (
        """CREATE TABLE attestations (
            id INTEGER PRIMARY KEY,
            vm TEXT NOT NULL,
            run_id INTEGER REFERENCES runs(id),
            status TEXT NOT NULL,
            measurement TEXT,
            reasons TEXT NOT NULL DEFAULT '[]',
            document TEXT NOT NULL DEFAULT '{}',
            created REAL NOT NULL
        )""",
        "CREATE INDEX attestations_vm ON attestations(vm, id)",
    ),
    (
        "ALTER TABLE runs ADD COLUMN uuid TEXT",
        f"UPDATE runs SET uuid = {SQL_UUID4} WHERE uuid IS NULL",
        "CREATE UNIQUE INDEX runs_uuid ON runs(uuid)",
    ),
    (
        "ALTER TABLE results ADD COLUMN launch INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE results ADD COLUMN position INTEGER",
        "ALTER TABLE results ADD COLUMN qemu_pid INTEGER",
        "ALTER TABLE results ADD COLUMN qemu_started REAL",
        "ALTER TABLE results ADD COLUMN pilot INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE measurements ADD COLUMN launch INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE measurements ADD COLUMN pilot INTEGER NOT NULL DEFAULT 0",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
