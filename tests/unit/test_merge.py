"""`results merge` on real SQLite files: idempotent, all or nothing, schema-aware; and
`results compare --by-host` on runs merged from two hosts."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from sevtui.base.errors import SevtuiError
from sevtui.base.values import Value
from sevtui.store.db import Store
from sevtui.store.merge import merge
from sevtui.store.rows import AttestationRow, ProbeRow, RepetitionRecord
from sevtui.store.schema import MIGRATIONS, SCHEMA_VERSION
from tests.conftest import sevtui

HOST_VALUES = {
    "milan-a": {"nosev": [10.0, 11.0, 12.0], "sev-snp": [11.0, 12.0, 13.0]},
    "genoa-b": {"nosev": [8.0, 8.5, 9.0], "sev-snp": [8.2, 8.6, 9.4]},
}


def host_database(path: Path, host: str, label: str = "fleet") -> Path:
    """A database as a host's `bench run` leaves it: one run, two profiles, an attestation
    and a probe."""
    store = Store(path)
    run_id = store.create_run(
        label, "running", "quick", 3, ["nosev", "sev-snp"], {"host": host, "mode": "interleaved"}
    )
    for profile, numbers in HOST_VALUES[host].items():
        store.set_target(run_id, profile, "vm", {"kind": profile})
        for repetition, number in enumerate(numbers, start=1):
            value = Value("time", "s", "lower", number)
            record = RepetitionRecord(
                profile, "lz4", "cpu", repetition, "ok", [value], 1.0, f"out {number}"
            )
            store.record(run_id, record)
    store.record_attestation(
        AttestationRow("sev-snp", "verified", "ab" * 48, [], {"host": host}, 1.0, run_id)
    )
    store.record_probe(ProbeRow("sev-snp", "sev-snp", "gcore", False, 0, 1 << 20, 1.0, 0.5))
    store.finish_run(run_id, "done", "")
    store.close()
    return path


def counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as db:
        tables = ("runs", "run_targets", "results", "measurements", "attestations", "probes")
        return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def test_merging_twice_changes_nothing_the_second_time(tmp_path: Path) -> None:
    milan = host_database(tmp_path / "milan.db", "milan-a")
    genoa = host_database(tmp_path / "genoa.db", "genoa-b")
    local = Store(tmp_path / "local.db")
    first = merge(local, [milan, genoa])
    assert [len(item.added) for item in first] == [1, 1]
    after_first = counts(tmp_path / "local.db")
    assert after_first == {
        "runs": 2,
        "run_targets": 4,
        "results": 12,
        "measurements": 12,
        "attestations": 2,
        "probes": 2,
    }
    second = merge(local, [milan, genoa])
    assert [len(item.added) for item in second] == [0, 0]
    assert [len(item.present) for item in second] == [1, 1]
    assert counts(tmp_path / "local.db") == after_first
    with sqlite3.connect(milan) as db:
        (source_uuid,) = db.execute("SELECT uuid FROM runs").fetchone()
    assert source_uuid in first[0].added
    merged_runs = [local.run(i) for i in local.resolve("fleet")]
    assert {run.provenance["host"] for run in merged_runs} == {"milan-a", "genoa-b"}
    samples = sorted(s.value for s in local.samples(local.resolve("fleet")) if s.target == "nosev")
    assert samples == sorted(HOST_VALUES["milan-a"]["nosev"] + HOST_VALUES["genoa-b"]["nosev"])
    local.close()


def test_a_corrupt_file_stops_the_merge_before_anything_is_written(tmp_path: Path) -> None:
    good = host_database(tmp_path / "good.db", "milan-a")
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 20)
    local = Store(tmp_path / "local.db")
    before = counts(tmp_path / "local.db")
    with pytest.raises(SevtuiError, match=r"cannot merge .*corrupt\.db"):
        merge(local, [good, corrupt])
    assert counts(tmp_path / "local.db") == before
    not_sevtui = tmp_path / "other.db"
    with sqlite3.connect(not_sevtui) as db:
        db.execute("CREATE TABLE t (x)")
    with pytest.raises(SevtuiError, match="not sevtui's"):
        merge(local, [not_sevtui])
    with pytest.raises(SevtuiError, match="this sevtui's own database"):
        merge(local, [tmp_path / "local.db"])
    local.close()


def test_an_older_database_is_upgraded_in_a_copy_and_a_newer_one_refused(
    tmp_path: Path,
) -> None:
    old = tmp_path / "v5.db"
    with sqlite3.connect(old) as db:
        for migration in MIGRATIONS[:5]:
            for statement in migration:
                db.execute(statement)
        db.execute("PRAGMA user_version = 5")
        db.execute(
            "INSERT INTO runs (label, status, targets, started, provenance) "
            "VALUES ('old', 'done', '[\"host\"]', 1.0, '{}')"
        )
    digest = hashlib.sha256(old.read_bytes()).hexdigest()
    local = Store(tmp_path / "local.db")
    (merged,) = merge(local, [old])
    assert len(merged.added) == 1 and len(merged.added[0]) == 36
    assert hashlib.sha256(old.read_bytes()).hexdigest() == digest, "the source is untouched"
    newer = host_database(tmp_path / "newer.db", "milan-a")
    with sqlite3.connect(newer) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SevtuiError, match=r"newer\.db has schema version \d+, newer than"):
        merge(local, [newer])
    assert len(local.resolve("old")) == 1
    local.close()


def test_compare_by_host_gives_each_host_its_own_overhead(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[paths]\ndata_dir = "{tmp_path / "data"}"\n')
    milan = host_database(tmp_path / "milan.db", "milan-a")
    genoa = host_database(tmp_path / "genoa.db", "genoa-b")
    merged = sevtui(config, "results", "merge", str(milan), str(genoa))
    assert merged.returncode == 0, merged.stderr
    assert "1 run(s) merged, 0 already here" in merged.stdout
    again = sevtui(config, "results", "merge", str(milan), "--json")
    assert json.loads(again.stdout)[0]["already_present"] != []
    compare = ("results", "compare", "fleet", "--base", "nosev", "--other", "sev-snp")
    done = sevtui(config, *compare, "--by-host", "--json")
    assert done.returncode == 0, done.stderr
    hosts = json.loads(done.stdout)["hosts"]
    assert set(hosts) == {"milan-a", "genoa-b"}
    for host, table in hosts.items():
        (row,) = table["rows"]
        base, other = HOST_VALUES[host]["nosev"], HOST_VALUES[host]["sev-snp"]
        assert row["base"]["mean"] == pytest.approx(sum(base) / 3)
        assert row["other"]["mean"] == pytest.approx(sum(other) / 3)
        # Overhead is the ratio of means for a lower-is-better metric.
        expected = (sum(other) / sum(base) - 1) * 100
        assert row["overhead_pct"] == pytest.approx(expected)
    csv_text = sevtui(config, *compare, "--by-host", "--csv").stdout
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("host,other,benchmark")
    assert {line.split(",")[0] for line in lines[1:]} == {"milan-a", "genoa-b"}
    text = sevtui(config, *compare, "--by-host").stdout
    assert "host genoa-b" in text and "host milan-a" in text


def test_a_host_gets_the_config_without_the_controllers_paths() -> None:
    from sevtui.fleet.run import host_config

    text = (
        'paths.database = "x.db"\n[paths]\ndata_dir = "/home/me/sevtui"\n\n'
        '[bench]\nrepetitions = 5\n[ paths ]\nstate_dir = "/s"\n[vm.nosev]\nkind = "nosev"\n'
    )
    sent = host_config(text)
    assert "data_dir" not in sent and "state_dir" not in sent and "x.db" not in sent
    assert "[bench]\nrepetitions = 5\n" in sent and '[vm.nosev]\nkind = "nosev"\n' in sent


def intel_database(path: Path) -> Path:
    """An Intel TDX host's run: nosev and tdx, three repetitions each."""
    store = Store(path)
    run_id = store.create_run(
        "fleet", "running", "quick", 3, ["nosev", "tdx"], {"host": "spr-c", "mode": "interleaved"}
    )
    for profile, numbers in {"nosev": [9.0, 9.5, 10.0], "tdx": [9.9, 10.4, 11.0]}.items():
        store.set_target(run_id, profile, "vm", {"kind": profile})
        for repetition, number in enumerate(numbers, start=1):
            value = Value("time", "s", "lower", number)
            store.record(
                run_id,
                RepetitionRecord(profile, "lz4", "cpu", repetition, "ok", [value], 1.0, "out"),
            )
    store.finish_run(run_id, "done", "")
    store.close()
    return path


def test_an_amd_hosts_snp_sits_beside_an_intel_hosts_tdx(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[paths]\ndata_dir = "{tmp_path / "data"}"\n')
    milan = host_database(tmp_path / "milan.db", "milan-a")
    intel = intel_database(tmp_path / "spr.db")
    assert sevtui(config, "results", "merge", str(milan), str(intel)).returncode == 0
    compare = ("results", "compare", "fleet", "--base", "nosev", "--by-host", "--json")
    done = sevtui(config, *compare, "--other", "sev-snp", "--other", "tdx")
    assert done.returncode == 0, done.stderr
    hosts = json.loads(done.stdout)["hosts"]
    assert set(hosts) == {"milan-a", "spr-c"}
    (row,) = hosts["spr-c"]["rows"]
    assert row["other"]["mean"] == pytest.approx((9.9 + 10.4 + 11.0) / 3)
    assert row["overhead_pct"] == pytest.approx(((9.9 + 10.4 + 11.0) / 28.5 - 1) * 100)
    unmeasured = sevtui(config, *compare, "--other", "sev-es")
    assert unmeasured.returncode == 2
    assert "--other sev-es: no host of these runs measured it" in unmeasured.stderr
