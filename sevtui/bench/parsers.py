"""Text -> measurements, one pure function per benchmark output format.

Every parser returns `Value`s and raises ParseError (naming the line) when the
text is not what it claims to be; none raises anything else on bad input.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from sevtui.errors import UsageError

Direction = Literal["lower", "higher"]


class ParseError(UsageError):
    """Benchmark output that does not parse, with the line where it went wrong."""


@dataclass(frozen=True)
class Value:
    """One measured number. `repetition` counts repeats inside one tool run (mbw -n)."""

    metric: str
    unit: str
    direction: Direction
    value: float
    benchmark: str = ""
    repetition: int = 0


_NUM = r"(\d+(?:\.\d+)?)"
_MBW_RE = re.compile(
    rf"^(\d+|AVG)\s+Method:\s+(\w+)\s+Elapsed:\s+{_NUM}\s+MiB:\s+{_NUM}\s+Copy:\s+{_NUM}"
    r"\s+MiB/s"
)


def parse_mbw(text: str) -> list[Value]:
    """mbw: one MiB/s value per iteration and method (AVG is derived from them: skipped)."""
    values: list[Value] = []
    for line in text.splitlines():
        match = _MBW_RE.match(line.strip())
        if not match or match.group(1) == "AVG":
            continue
        index, method, _elapsed, _mib, copy = match.groups()
        values.append(Value(method, "MiB/s", "higher", float(copy), repetition=int(index)))
    if not values:
        raise ParseError("no mbw result lines ('N Method: X Elapsed: ... Copy: ... MiB/s')")
    return values


_TMB_BW_RE = re.compile(rf"^\s*([A-Za-z0-9][^:]*?)\s*:\s*{_NUM}\s+MB/s(?:\s+\({_NUM}%\))?\s*$")
_TMB_LAT_HEAD_RE = re.compile(r"block size : single random read / dual random read, \[(\w+)\]")
_TMB_LAT_RE = re.compile(rf"^\s*(\d+)\s*:\s*{_NUM}\s*ns\s*/\s*{_NUM}\s*ns\s*$")


def parse_tinymembench(text: str) -> list[Value]:
    """tinymembench: every bandwidth line (MB/s) and both latency tables (ns)."""
    values: list[Value] = []
    table = ""
    for line in text.splitlines():
        head = _TMB_LAT_HEAD_RE.search(line)
        if head:
            table = head.group(1).lower().replace("madv_", "")
            continue
        if table:
            row = _TMB_LAT_RE.match(line)
            if row:
                size, single, dual = row.groups()
                for kind, number in (("single", single), ("dual", dual)):
                    metric = f"latency {kind} random read {size} B [{table}]"
                    values.append(Value(metric, "ns", "lower", float(number)))
            continue
        bandwidth = _TMB_BW_RE.match(line)
        if bandwidth and not line.startswith("=="):
            values.append(Value(bandwidth.group(1), "MB/s", "higher", float(bandwidth.group(2))))
    if not values:
        raise ParseError("no tinymembench bandwidth ('NAME : N MB/s') or latency lines")
    return values


_REDIS_COLUMNS = {
    "rps": ("requests/s", "higher"),
    "avg_latency_ms": ("ms", "lower"),
    "min_latency_ms": ("ms", "lower"),
    "p50_latency_ms": ("ms", "lower"),
    "p95_latency_ms": ("ms", "lower"),
    "p99_latency_ms": ("ms", "lower"),
    "max_latency_ms": ("ms", "lower"),
}


def parse_redis_csv(text: str) -> list[Value]:
    """redis-benchmark --csv: rps and every latency column, per test."""
    try:
        rows = list(csv.reader(text.strip().splitlines()))
    except csv.Error as exc:
        raise ParseError(f"not valid CSV: {exc}") from None
    header_at = next((i for i, row in enumerate(rows) if row[:1] == ["test"]), None)
    if header_at is None:
        raise ParseError('no redis-benchmark CSV header ("test","rps",...)')
    header = rows[header_at]
    values: list[Value] = []
    for number, row in enumerate(rows[header_at + 1 :], start=header_at + 2):
        if not row:
            continue
        if len(row) != len(header):
            raise ParseError(f"line {number}: expected {len(header)} columns, found {len(row)}")
        test = row[0]
        for column, cell in zip(header[1:], row[1:], strict=True):
            if column not in _REDIS_COLUMNS:
                continue
            unit, direction = _REDIS_COLUMNS[column]
            try:
                number_value = float(cell)
            except ValueError:
                raise ParseError(f"line {number}: {column} = {cell!r} is not a number") from None
            metric = f"{test} {column.removesuffix('_ms').replace('_', ' ')}"
            values.append(Value(metric, unit, direction, number_value))  # type: ignore[arg-type]
    if not values:
        raise ParseError("redis-benchmark CSV has a header but no rows")
    return values


_SECONDS_RE = re.compile(r"^\s*(.+?):\s*(\d+(?:\.\d+)?)\s*s\s*$", re.MULTILINE)
_TABLE_ROW_RE = re.compile(r"^\s*(.*?)\s*│\s*(.*?)\s*│\s*(.*?)\s*$")


def parse_tinyben(text: str) -> list[Value]:
    """The seed's tinyben summary: `Name: 12.3 s` lines or the box-drawn table."""
    if "│" in text:
        return _parse_tinyben_table(text)
    values: list[Value] = []
    for line in text.splitlines():
        match = _SECONDS_RE.match(line)
        if match:
            name = match.group(1).strip()
            values.append(
                Value("time", "s", "lower", float(match.group(2)), benchmark=benchmark_id(name))
            )
    if not values:
        raise ParseError("no tinyben 'NAME: SECONDS s' lines")
    return values


def _parse_tinyben_table(text: str) -> list[Value]:
    rows: list[list[str]] = []
    for line in text.splitlines():
        match = _TABLE_ROW_RE.match(line)
        if not match or "═" in line or "Benchmark Name" in line:
            continue
        name, status, result = match.groups()
        if status or not rows:
            rows.append([name, status, result])
        else:
            rows[-1][0] = f"{rows[-1][0]} {name}".strip()
            rows[-1][2] = f"{rows[-1][2]}{result}"
    values: list[Value] = []
    for name, _status, result in rows:
        seconds = re.fullmatch(r"(\d+(?:\.\d+)?)\s*s", result.strip())
        if seconds:
            values.append(
                Value("time", "s", "lower", float(seconds.group(1)), benchmark=benchmark_id(name))
            )
    if not values:
        raise ParseError("no tinyben table rows with a result in seconds")
    return values


def parse_elapsed(text: str) -> list[Value]:
    """sevtui's own timing line, printed in the guest: `SEVTUI-ELAPSED-NS <ns>`."""
    match = re.search(r"SEVTUI-ELAPSED-NS (\d+)", text)
    if not match:
        raise ParseError("no SEVTUI-ELAPSED-NS line: the timed command did not finish")
    return [Value("time", "s", "lower", int(match.group(1)) / 1e9)]


_BENCHMARK_NAMES = (
    (r"godot", "godot-build"),
    (r"image\s*magick", "imagemagick-build"),
    (r"linux", "linux-build"),
    (r"llvm", "llvm-build"),
    (r"lz4 decompress", "lz4-decompress"),
    (r"lz4 compress", "lz4-compress"),
    (r"sqlite", "sqlite-insert"),
    (r"mbw", "mbw"),
    (r"tinymembench", "tinymembench"),
    (r"redis", "redis"),
)


def benchmark_id(name: str) -> str:
    """The catalog id a human benchmark name refers to, else a slug of the name."""
    lowered = name.lower()
    for pattern, bench_id in _BENCHMARK_NAMES:
        if re.search(pattern, lowered):
            return bench_id
    return re.sub(r"[^a-z0-9]+", "-", lowered).strip("-") or "unnamed"


PARSERS: dict[str, Callable[[str], list[Value]]] = {
    "mbw": parse_mbw,
    "tinymembench": parse_tinymembench,
    "redis-csv": parse_redis_csv,
    "tinyben": parse_tinyben,
    "elapsed": parse_elapsed,
}


def detect_format(text: str) -> str:
    """Guess which parser a file needs (for `import --format auto`)."""
    if "Method:" in text and "MiB/s" in text:
        return "mbw"
    if re.search(r'^"?test"?,"?rps"?', text, re.MULTILINE):
        return "redis-csv"
    if "│" in text:
        return "tinyben"
    if "tinymembench" in text or _TMB_LAT_HEAD_RE.search(text):
        return "tinymembench"
    if _SECONDS_RE.search(text):
        return "tinyben"
    raise ParseError(
        "cannot tell the format (not mbw, tinymembench, redis-benchmark CSV or tinyben)",
        "pass --format explicitly",
    )
