"""Text -> measurements, one pure function per benchmark output format.

Every parser returns `Value`s and raises ParseError (naming the line) when the
text is not what it claims to be; none raises anything else on bad input.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sevtui.base.errors import UsageError
from sevtui.base.values import MAX_VALUE, Value


class ParseError(UsageError):
    """Benchmark output that does not parse, with the line where it went wrong."""


FORMATS = ("auto", "mbw", "tinymembench", "redis-csv", "tinyben", "csv")
"""What `sevtui import --format` accepts (csv: long format, read by the importer)."""


def check_value(number: float, what: str) -> float:
    """NUMBER if it is a usable measurement (finite, not negative, at most MAX_VALUE)."""
    if not math.isfinite(number):
        raise ParseError(f"{what} = {number!r} is not a finite number")
    if number < 0:
        raise ParseError(f"{what} = {number!r} is negative: times and rates cannot be")
    if number > MAX_VALUE:
        raise ParseError(f"{what} = {number!r} is out of range (above {MAX_VALUE:g})")
    return number


_NUM = r"(\d+(?:\.\d+)?)"
_MBW_RE = re.compile(
    rf"^(\d+|AVG)\s+Method:\s+(\w+)\s+Elapsed:\s+{_NUM}\s+MiB:\s+{_NUM}\s+Copy:\s+{_NUM}"
    r"\s+MiB/s"
)


def parse_mbw(text: str) -> list[Value]:
    """mbw: one MiB/s value per method and program run: its AVG line.

    mbw's iterations inside one run (-n) are not samples: a run with no AVG line (cut
    short) gives the mean of the iterations it printed. Each further AVG line of a
    method starts another complete run (repetition 1, 2, ...).
    """
    finished: dict[str, int] = defaultdict(int)
    open_runs: dict[str, list[float]] = defaultdict(list)
    values: list[Value] = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = _MBW_RE.match(line.strip())
        if not match:
            continue
        index, method, _elapsed, _mib, copy = match.groups()
        rate = check_value(float(copy), f"line {number}: {method} Copy")
        if index == "AVG":
            values.append(Value(method, "MiB/s", "higher", rate, repetition=finished[method]))
            finished[method] += 1
            open_runs.pop(method, None)
        else:
            open_runs[method].append(rate)
    for method, rates in open_runs.items():
        mean = math.fsum(rates) / len(rates)
        values.append(Value(method, "MiB/s", "higher", mean, repetition=finished[method]))
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
                    values.append(Value(metric, "ns", "lower", check_value(float(number), metric)))
            continue
        bandwidth = _TMB_BW_RE.match(line)
        if bandwidth and not line.startswith("=="):
            name = bandwidth.group(1)
            rate = check_value(float(bandwidth.group(2)), name)
            values.append(Value(name, "MB/s", "higher", rate))
    if not values:
        raise ParseError("no tinymembench bandwidth ('NAME : N MB/s') or latency lines")
    return numbered(values)


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
                number_value = check_value(float(cell), f"line {number}: {column}")
            except ValueError:
                raise ParseError(f"line {number}: {column} = {cell!r} is not a number") from None
            metric = f"{test} {column.removesuffix('_ms').replace('_', ' ')}"
            values.append(Value(metric, unit, direction, number_value))  # type: ignore[arg-type]
    if not values:
        raise ParseError("redis-benchmark CSV has a header but no rows")
    return numbered(values)


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
            seconds = check_value(float(match.group(2)), name)
            values.append(Value("time", "s", "lower", seconds, benchmark=benchmark_id(name)))
    if not values:
        raise ParseError("no tinyben 'NAME: SECONDS s' lines")
    return numbered(values)


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
            number = check_value(float(seconds.group(1)), name)
            values.append(Value("time", "s", "lower", number, benchmark=benchmark_id(name)))
    if not values:
        raise ParseError("no tinyben table rows with a result in seconds")
    return numbered(values)


def elapsed_marker(nonce: str) -> str:
    """The word sevtui's timing line starts with; NONCE is fresh for every repetition."""
    return f"SEVTUI-ELAPSED-{nonce}"


def parse_elapsed(text: str, nonce: str) -> list[Value]:
    """sevtui's own timing line, printed in the target after the command's output.

    Only the last line that carries this repetition's NONCE counts: a benchmark cannot
    guess the nonce, and whatever it prints comes before sevtui's own line.
    """
    found = re.findall(rf"^{re.escape(elapsed_marker(nonce))} (\d+)\s*$", text, re.MULTILINE)
    if not found:
        raise ParseError("no timing line from sevtui: the timed command did not finish")
    return [Value("time", "s", "lower", check_value(int(found[-1]) / 1e9, "elapsed"))]


def numbered(values: list[Value]) -> list[Value]:
    """Number repeated (benchmark, metric) pairs 0, 1, ...: each is another complete run."""
    seen: dict[tuple[str, str], int] = defaultdict(int)
    out = []
    for value in values:
        key = (value.benchmark, value.metric)
        out.append(replace(value, repetition=seen[key]))
        seen[key] += 1
    return out


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


FIO_JOBS = {
    "seq-read": ("read", "bw", "MiB/s"),
    "seq-write": ("write", "bw", "MiB/s"),
    "rand-read": ("read", "iops", "IOPS"),
    "rand-write": ("write", "iops", "IOPS"),
}
"""fio job name -> the direction and figure it measures: bandwidth for the sequential
jobs, operations per second for the 4k random ones."""


def parse_fio_json(text: str) -> list[Value]:
    """fio --output-format=json: bandwidth (MiB/s) or IOPS of each of sevtui's jobs."""
    start, end = text.find("{"), text.rfind("}")
    try:
        report = json.loads(text[start : end + 1]) if start >= 0 else None
    except ValueError as exc:
        raise ParseError(f"fio output is not JSON: {exc}") from None
    jobs = report.get("jobs") if isinstance(report, dict) else None
    if not isinstance(jobs, list):
        raise ParseError('no fio JSON report (an object with "jobs") in the output')
    values: list[Value] = []
    for job in jobs:
        name = job.get("jobname") if isinstance(job, dict) else None
        if name not in FIO_JOBS:
            continue
        side, figure, unit = FIO_JOBS[name]
        number = job.get(side, {}).get(figure) if isinstance(job.get(side), dict) else None
        if not isinstance(number, int | float) or isinstance(number, bool):
            raise ParseError(f"fio job {name}: no number at {side}.{figure}")
        if job.get("error"):
            raise ParseError(f"fio job {name} failed with error {job['error']}")
        scaled = number / 1024 if figure == "bw" else number
        values.append(Value(name, unit, "higher", check_value(float(scaled), name)))
    if not values:
        raise ParseError(f"fio report has none of the jobs {', '.join(FIO_JOBS)}")
    return values


_EXITS_OP = re.compile(r"^sevtui-exits: op=(?P<op>[\w ]+?) cycles=(?P<cycles>\S+) ns=(?P<ns>\S+)")
_EXITS_TSC = re.compile(r"^sevtui-exits: tsc_mhz=(?P<mhz>\S+)")


def parse_exits(text: str) -> list[Value]:
    """sevtui-exits: per operation its median cost in ns and in TSC cycles, and the TSC
    frequency it measured. A skipped operation (no ioperm, no BAR) gives no value."""
    values: list[Value] = []
    for number, line in enumerate(text.splitlines(), 1):
        op, tsc = _EXITS_OP.match(line.strip()), _EXITS_TSC.match(line.strip())
        try:
            if op:
                name = op["op"]
                values.append(
                    Value(f"{name} ns", "ns", "lower", check_value(float(op["ns"]), name))
                )
                cycles = check_value(float(op["cycles"]), name)
                values.append(Value(f"{name} cycles", "cycles", "lower", cycles))
            elif tsc:
                mhz = check_value(float(tsc["mhz"]), "tsc_mhz")
                values.append(Value("TSC frequency", "MHz", "higher", mhz))
        except ValueError:
            raise ParseError(f"line {number}: a number does not parse: {line.strip()}") from None
    if not any(v.metric.endswith(" ns") for v in values):
        raise ParseError("no 'sevtui-exits: op=... ns=...' line")
    return values


def _json_documents(text: str) -> list[dict[str, Any]]:
    """Every JSON object in TEXT, one after another (iperf3 prints one per run)."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while (start := text.find("{", at)) != -1:
        try:
            document, at = decoder.raw_decode(text, start)
        except json.JSONDecodeError as exc:
            raise ParseError(f"iperf3 output is not JSON at character {exc.pos}") from None
        if isinstance(document, dict):
            found.append(document)
    return found


def _iperf3_values(document: dict[str, Any]) -> list[Value]:
    """One iperf3 run: TCP throughput in Gbit/s (named by direction and streams), or UDP
    throughput, jitter and loss. host->guest: the host sends (iperf3 without -R)."""
    if "error" in document:
        raise ParseError(f"iperf3 failed: {document['error']}")
    try:
        test = document["start"]["test_start"]
        end = document["end"]
        way = "guest->host" if test["reverse"] else "host->guest"
        streams = int(test["num_streams"])
        if test["protocol"] == "UDP":
            summary = end["sum"]
            gbits = check_value(float(summary["bits_per_second"]) / 1e9, "UDP bits_per_second")
            return [
                Value(f"UDP {way} Gbit/s", "Gbit/s", "higher", gbits),
                Value(
                    f"UDP {way} jitter",
                    "ms",
                    "lower",
                    check_value(float(summary["jitter_ms"]), "jitter"),
                ),
                Value(
                    f"UDP {way} loss",
                    "%",
                    "lower",
                    check_value(float(summary["lost_percent"]), "loss"),
                ),
            ]
        received = check_value(float(end["sum_received"]["bits_per_second"]) / 1e9, "TCP rate")
    except (KeyError, TypeError, ValueError) as exc:
        raise ParseError(f"an iperf3 result lacks a field it always has: {exc}") from None
    label = f"{streams} stream" + ("s" if streams != 1 else "")
    found = [Value(f"TCP {way} {label} Gbit/s", "Gbit/s", "higher", received)]
    rtt = _server_rtt_ms(document) if test["reverse"] else None
    if rtt is not None:
        found.append(Value(f"TCP {way} {label} RTT", "ms", "lower", rtt))
    return found


def _server_rtt_ms(document: dict[str, Any]) -> float | None:
    """The server's (here: the sending guest's) mean smoothed RTT over its streams, in
    ms; None when the server sent no JSON or its kernel reported no RTT (0)."""
    server = document.get("server_output_json")
    if not isinstance(server, dict):
        return None
    try:
        rtts = [float(s["sender"]["mean_rtt"]) for s in server["end"]["streams"]]
    except (KeyError, TypeError, ValueError):
        raise ParseError("the server's iperf3 result lacks its streams' mean_rtt") from None
    if not rtts or not all(rtt > 0 for rtt in rtts):
        return None
    return check_value(sum(rtts) / len(rtts) / 1000, "RTT")


def parse_iperf3_json(text: str) -> list[Value]:
    """The JSON documents of several `iperf3 -J` runs, each told apart by its own
    test_start; a run that failed (its "error" field) fails the repetition."""
    documents = _json_documents(text)
    if not documents:
        raise ParseError("no iperf3 JSON result in the output")
    return [value for document in documents for value in _iperf3_values(document)]


PARSERS: dict[str, Callable[[str], list[Value]]] = {
    "exits": parse_exits,
    "iperf3-json": parse_iperf3_json,
    "mbw": parse_mbw,
    "fio-json": parse_fio_json,
    "tinymembench": parse_tinymembench,
    "redis-csv": parse_redis_csv,
    "tinyben": parse_tinyben,
}
"""Parsers of program output; `elapsed` is sevtui's own timing line (see parse_output)."""


def parse_output(parser: str, text: str, nonce: str) -> list[Value]:
    """The values of one benchmark run's output, read by its catalog parser.

    Program parsers see the output without sevtui's own lines (those carrying NONCE).
    """
    if parser == "elapsed":
        return parse_elapsed(text, nonce)
    program = "\n".join(line for line in text.splitlines() if nonce not in line)
    return PARSERS[parser](program)


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
