"""Import results measured elsewhere: all files parse, or nothing is stored."""

from __future__ import annotations

import csv
import stat
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from sevtui.base.errors import UsageError
from sevtui.base.values import Value
from sevtui.bench.catalog import Catalog
from sevtui.bench.parsers import (
    PARSERS,
    ParseError,
    benchmark_id,
    check_value,
    detect_format,
)
from sevtui.store.db import Store

# Files of these formats hold one benchmark each.
_SINGLE = {"mbw": "mbw", "tinymembench": "tinymembench", "redis-csv": "redis"}


@dataclass(frozen=True)
class CsvColumns:
    """How to read long-format CSV (`--format csv`)."""

    benchmark: str
    value: str
    metric: str | None = None
    profile: str | None = None
    unit: str = ""
    direction: str = "lower"


Item = tuple[str, str, str, list[Value]]


MAX_IMPORT_BYTES = 1 << 30


def read_file(path: Path) -> str:
    """A regular file's text (at most MAX_IMPORT_BYTES), or a clear error."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"{path}: not a regular file", "import files, not devices or pipes")
        if info.st_size > MAX_IMPORT_BYTES:
            raise UsageError(
                f"{path}: {info.st_size} bytes, more than the {MAX_IMPORT_BYTES >> 20} MiB "
                "an import reads",
                "split the file",
            )
        return path.read_text(encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None


def parse_file(path: Path, fmt: str, catalog: Catalog) -> list[Item]:
    """(benchmark, category, source, values) items of one non-CSV file."""
    text = read_file(path)
    try:
        chosen = detect_format(text) if fmt == "auto" else fmt
        values = PARSERS[chosen](text)
    except ParseError as exc:
        raise ParseError(f"{path}: {exc.message}", exc.hint) from None
    by_benchmark: dict[str, list[Value]] = defaultdict(list)
    for value in values:
        by_benchmark[value.benchmark or _SINGLE.get(chosen, chosen)].append(value)
    return [
        (bench, _category(catalog, bench), str(path), group)
        for bench, group in by_benchmark.items()
    ]


def _category(catalog: Catalog, bench: str) -> str:
    known = catalog.get(bench)
    return known.category if known else "other"


def parse_csv(path: Path, columns: CsvColumns, catalog: Catalog) -> dict[str, list[Item]]:
    """Long-format CSV: profile -> items (one run per distinct profile)."""
    if columns.direction not in ("lower", "higher"):
        raise UsageError(f"--direction {columns.direction!r}: use lower or higher")
    reader = csv.DictReader(read_file(path).splitlines())
    header = reader.fieldnames or []
    wanted = [columns.benchmark, columns.value, columns.metric, columns.profile]
    missing = [name for name in wanted if name and name not in header]
    if missing:
        raise ParseError(
            f"{path}: line 1: no column {', '.join(repr(m) for m in missing)} "
            f"(columns: {', '.join(header)})"
        )
    grouped: dict[str, dict[str, list[Value]]] = defaultdict(lambda: defaultdict(list))
    seen: dict[tuple[str, str, str], int] = defaultdict(int)
    for line, row in enumerate(reader, start=2):
        cells = {name: row.get(name) for name in wanted if name}
        short = [name for name, cell in cells.items() if cell is None or cell == ""]
        if short:
            raise ParseError(f"{path}: line {line}: no value in column {', '.join(short)}")
        try:
            number = check_value(float(row[columns.value]), columns.value)
        except ValueError:
            raise ParseError(
                f"{path}: line {line}: {columns.value} = {row[columns.value]!r} is not a number"
            ) from None
        except ParseError as exc:
            raise ParseError(f"{path}: line {line}: {exc.message}") from None
        bench = benchmark_id(row[columns.benchmark])
        metric = row[columns.metric] if columns.metric else "value"
        profile = row[columns.profile] if columns.profile else ""
        repetition = seen[(profile, bench, metric)]
        seen[(profile, bench, metric)] += 1
        grouped[profile][bench].append(
            Value(metric, columns.unit, columns.direction, number, repetition=repetition)  # type: ignore[arg-type]
        )
    if not grouped:
        raise ParseError(f"{path}: no data rows")
    return {
        profile: [(b, _category(catalog, b), str(path), vals) for b, vals in benches.items()]
        for profile, benches in grouped.items()
    }


@dataclass(frozen=True)
class ImportRequest:
    """What `sevtui import` was asked: files, label, profile, format, CSV columns."""

    files: list[Path]
    label: str
    profile: str | None
    fmt: str
    columns: CsvColumns | None = None


def import_files(store: Store, request: ImportRequest, catalog: Catalog) -> dict[str, int]:
    """Parse every file first; then store one run per profile. Returns profile -> run id."""
    per_profile: dict[str, list[Item]] = defaultdict(list)
    profile = request.profile
    for path in request.files:
        if request.fmt == "csv":
            if request.columns is None:
                raise UsageError("--format csv needs --benchmark-col and --value-col")
            for found, items in parse_csv(path, request.columns, catalog).items():
                name = found or profile
                if not name:
                    raise UsageError(
                        f"{path}: rows have no profile", "pass --profile or --profile-col"
                    )
                per_profile[name].extend(items)
        else:
            if not profile:
                raise UsageError("--profile is required for this format", "e.g. --profile sev-snp")
            per_profile[profile].extend(parse_file(path, request.fmt, catalog))
    sources = ", ".join(str(path) for path in request.files)
    return {
        name: store.import_run(request.label, name, items, sources)
        for name, items in per_profile.items()
    }
