"""Parsers on the seed's real outputs (exact values) and on mangled input."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sevtui.bench.parsers import (
    PARSERS,
    ParseError,
    detect_format,
    parse_elapsed,
    parse_fio_json,
    parse_mbw,
    parse_redis_csv,
    parse_tinyben,
    parse_tinymembench,
)
from tests.sysroots import DATA

SEED = DATA / "seed"


def test_mbw_gives_one_value_per_method_and_run_its_avg_line() -> None:
    text = (SEED / "sev/mbw.txt").read_text()
    values = parse_mbw(text)
    assert [(v.metric, v.value, v.repetition) for v in values] == [
        ("MEMCPY", 18394.207, 0),
        ("DUMB", 5391.466, 0),
        ("MCBLOCK", 9959.849, 0),
    ]
    assert {v.unit for v in values} == {"MiB/s"} and {v.direction for v in values} == {"higher"}


def test_mbw_without_avg_lines_takes_the_mean_of_the_iterations() -> None:
    text = (SEED / "sev/mbw.txt").read_text()
    cut = "\n".join(line for line in text.splitlines() if not line.startswith("AVG"))
    memcpy = [v for v in parse_mbw(cut) if v.metric == "MEMCPY"]
    iterations = [
        float(line.split("Copy:")[1].split()[0])
        for line in text.splitlines()
        if "MEMCPY" in line and not line.startswith("AVG")
    ]
    assert len(iterations) == 10 and len(memcpy) == 1
    assert memcpy[0].value == pytest.approx(sum(iterations) / 10)


def test_two_complete_mbw_runs_in_one_file_are_two_repetitions() -> None:
    text = (SEED / "sev/mbw.txt").read_text()
    values = parse_mbw(text + "\n" + text)
    assert [v.repetition for v in values if v.metric == "DUMB"] == [0, 1]


def test_absurd_numbers_are_refused() -> None:
    line = "0\tMethod: MEMCPY\tElapsed: 0.1\tMiB: 1.0\tCopy: " + "9" * 400 + " MiB/s\n"
    with pytest.raises(ParseError, match="not a finite number"):
        parse_mbw(line)
    with pytest.raises(ParseError, match="out of range"):
        parse_redis_csv('"test","rps"\n"SET","1e300"\n')


def test_tinymembench_every_bandwidth_line_and_both_latency_tables() -> None:
    values = parse_tinymembench((SEED / "nosev/tinymembench.txt").read_text())
    bandwidth = {v.metric: v.value for v in values if v.unit == "MB/s"}
    latency = {v.metric: v.value for v in values if v.unit == "ns"}
    assert len(bandwidth) == 33 and len(latency) == 68
    assert bandwidth["C copy backwards"] == 14610.2
    assert bandwidth["SSE2 nontemporal fill"] == 25077.5
    assert bandwidth["SSE2 2-pass copy (from framebuffer)"] == 137.9
    assert latency["latency single random read 67108864 B [nohugepage]"] == 83.9
    assert latency["latency dual random read 67108864 B [hugepage]"] == 83.8


def test_redis_csv_every_column() -> None:
    values = parse_redis_csv((SEED / "sev/redis.csv").read_text())
    assert len(values) == 20 * 7
    by_metric = {v.metric: v for v in values}
    assert by_metric["PING_INLINE rps"].value == 102774.92
    assert by_metric["MSET (10 keys) p99 latency"].value == 0.503
    assert by_metric["SET rps"].direction == "higher"
    assert by_metric["SET max latency"].direction == "lower"


def test_tinyben_both_forms() -> None:
    lines = {v.benchmark: v.value for v in parse_tinyben((SEED / "sev/tinyben.txt").read_text())}
    table = {
        v.benchmark: v.value for v in parse_tinyben((SEED / "nosev/tinyben-table.txt").read_text())
    }
    assert lines["linux-build"] == 357.29826259613037
    assert table["linux-build"] == 319.93260073661804
    assert set(lines) == set(table) == {
        "godot-build", "imagemagick-build", "linux-build", "llvm-build", "lz4-compress",
        "lz4-decompress", "sqlite-insert",
    }  # fmt: skip


def test_formats_are_recognised() -> None:
    expected = {
        "sev/mbw.txt": "mbw",
        "sev/tinymembench.txt": "tinymembench",
        "sev/redis.csv": "redis-csv",
        "sev/tinyben.txt": "tinyben",
        "nosev/tinyben-table.txt": "tinyben",
    }
    for name, fmt in expected.items():
        assert detect_format((SEED / name).read_text()) == fmt


def test_elapsed_takes_only_the_last_line_with_this_repetitions_nonce() -> None:
    real = "SEVTUI-ELAPSED-abc123 1500000000"
    assert parse_elapsed(f"noise\n{real}\n", "abc123")[0].value == 1.5
    forged = "SEVTUI-ELAPSED-NS 1\nSEVTUI-ELAPSED-abc123 1\nSEVTUI-ELAPSED-guess 1\n"
    assert parse_elapsed(forged + real + "\n", "abc123")[0].value == 1.5
    with pytest.raises(ParseError):
        parse_elapsed("SEVTUI-ELAPSED-other 1500000000\n", "abc123")
    with pytest.raises(ParseError):
        parse_elapsed("no timing here", "abc123")


def test_redis_csv_with_a_bad_cell_names_the_line() -> None:
    text = '"test","rps"\n"SET","fast"\n'
    with pytest.raises(ParseError, match="line 2: rps = 'fast' is not a number"):
        parse_redis_csv(text)


@settings(max_examples=int(os.environ.get("SEVTUI_FUZZ_EXAMPLES", "100")), deadline=None)
@given(st.sampled_from(sorted(PARSERS)), st.text(max_size=400), st.integers(0, 2000))
def test_mangled_input_gives_a_parse_error_or_values(name: str, junk: str, cut: int) -> None:
    seeds = [p.read_text() for p in sorted(SEED.glob("*/*"))]
    text = seeds[cut % len(seeds)]
    mangled = text[: cut % (len(text) + 1)] + junk
    try:
        values = PARSERS[name](mangled)
    except ParseError:
        return
    assert values and all(isinstance(v.value, float) for v in values)


def test_fio_json_bandwidth_in_mib_and_random_iops() -> None:
    text = (DATA / "fio" / "fio-3.33-quick.json").read_text()
    values = {v.metric: v for v in parse_fio_json("fio: some warning\n" + text)}
    # From the fixture: seq-read read.bw 883898 KiB/s, seq-write write.bw 2334528 KiB/s,
    # rand-read read.iops 35154.615128, rand-write write.iops 42990.336554.
    assert values["seq-read"].value == pytest.approx(883898 / 1024)
    assert values["seq-write"].value == pytest.approx(2334528 / 1024)
    assert values["rand-read"].value == pytest.approx(35154.615128)
    assert values["rand-write"].value == pytest.approx(42990.336554)
    assert {(v.unit, v.direction) for v in values.values()} == {
        ("MiB/s", "higher"),
        ("IOPS", "higher"),
    }


def test_fio_json_that_failed_or_is_not_fio_is_refused() -> None:
    with pytest.raises(ParseError, match="no fio JSON report"):
        parse_fio_json('{"fio version": "fio-3.33"}')
    with pytest.raises(ParseError, match="not JSON"):
        parse_fio_json("{ broken")
    failed = '{"jobs": [{"jobname": "seq-read", "error": 5, "read": {"bw": 0}}]}'
    with pytest.raises(ParseError, match="seq-read failed with error 5"):
        parse_fio_json(failed)
