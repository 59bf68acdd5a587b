"""What a merged row must be: the checks an import applies, column by column.

A database from another machine is input like any file: every value of every column
that `results merge` copies is checked here before anything is written (finite numbers
in range, the right types, JSON where JSON is stored, timestamps, printable names). The
first bad value refuses the whole merge, naming its table, row and column.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable
from typing import Any

from sevtui.base.errors import UsageError
from sevtui.base.names import check_label, check_name
from sevtui.base.values import MAX_VALUE

LATEST_TIME = 4102444800.0
"""2100-01-01: a timestamp past it is no time sevtui wrote."""
MAX_TEXT = 1 << 20
MAX_OUTPUT = 64 << 20

Check = Callable[[Any], None]


class BadValue(ValueError):
    """Why one value cannot be merged."""


def _name(what: str) -> Check:
    def check(value: Any) -> None:
        if not isinstance(value, str):
            raise BadValue(f"{_shown(value)} is not text")
        try:
            check_name(value, what)
        except UsageError as exc:
            raise BadValue(exc.message) from None

    return check


def _label(value: Any) -> None:
    if not isinstance(value, str):
        raise BadValue(f"{_shown(value)} is not text")
    try:
        check_label(value)
    except UsageError as exc:
        raise BadValue(exc.message) from None


def _optional(check: Check) -> Check:
    def optional(value: Any) -> None:
        if value is not None:
            check(value)

    return optional


def _text(value: Any) -> None:
    if not isinstance(value, str):
        raise BadValue(f"{_shown(value)} is not text")
    if len(value) > MAX_TEXT:
        raise BadValue(f"text of {len(value)} characters (at most {MAX_TEXT})")


def _one_of(*allowed: str) -> Check:
    def check(value: Any) -> None:
        if value not in allowed:
            raise BadValue(f"{_shown(value)} is not one of {', '.join(allowed)}")

    return check


def _number(low: float, high: float) -> Check:
    def check(value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BadValue(f"{_shown(value)} is not a number")
        if not math.isfinite(value):
            raise BadValue(f"{value!r} is not a finite number")
        if not low <= value <= high:
            raise BadValue(f"{value!r} is out of range ({low:g} to {high:g})")

    return check


def _whole(low: int, high: int) -> Check:
    def check(value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadValue(f"{_shown(value)} is not a whole number")
        if not low <= value <= high:
            raise BadValue(f"{value!r} is out of range ({low} to {high})")

    return check


def _json(kind: type) -> Check:
    def check(value: Any) -> None:
        _text(value)
        try:
            parsed = json.loads(value, parse_constant=_no_constant)
        except ValueError as exc:
            raise BadValue(f"not valid JSON ({exc})") from None
        if not isinstance(parsed, kind):
            raise BadValue(f"JSON {type(parsed).__name__}, not a {kind.__name__}")

    return check


def _no_constant(word: str) -> Any:
    raise ValueError(f"{word} is not a JSON number")


def _names_list(value: Any) -> None:
    _json(list)(value)
    for item in json.loads(value):
        _name("target")(item)


def _uuid(value: Any) -> None:
    if not isinstance(value, str):
        raise BadValue(f"{_shown(value)}: a run needs a UUID (text) to be merged")
    try:
        uuid.UUID(value)
    except ValueError:
        raise BadValue(f"{_shown(value)} is not a UUID") from None


def _blob(value: Any) -> None:
    if value is not None and not isinstance(value, bytes):
        raise BadValue(f"{_shown(value)} is not a blob")
    if value is not None and len(value) > MAX_OUTPUT:
        raise BadValue(f"an output of {len(value)} bytes (at most {MAX_OUTPUT})")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


_TIME = _number(0.0, LATEST_TIME)
_COUNT = _whole(0, 1 << 62)
_STATUS = _one_of("running", "done", "failed", "interrupted", "imported")
_OUTCOME = _one_of("ok", "failed", "timeout", "unavailable")

CHECKS: dict[str, dict[str, Check]] = {
    "runs": {
        "uuid": _uuid,
        "label": _label,
        "status": _STATUS,
        "suite": _optional(_name("suite")),
        "repetitions": _optional(_whole(0, 1_000_000)),
        "targets": _names_list,
        "started": _TIME,
        "finished": _optional(_TIME),
        "pid": _optional(_whole(0, 1 << 31)),
        "notes": _text,
        "provenance": _json(dict),
        "reason": _text,
    },
    "run_targets": {
        "target": _name("target"),
        "kind": _name("kind"),
        "info": _json(dict),
    },
    "results": {
        "target": _name("target"),
        "benchmark": _name("benchmark"),
        "category": _name("category"),
        "repetition": _COUNT,
        "status": _OUTCOME,
        "seconds": _optional(_number(0.0, MAX_VALUE)),
        "message": _text,
        "output": _blob,
        "created": _TIME,
        "busy": _whole(0, 1),
        "conditions": _json(dict),
        "launch": _whole(1, 100_000),
        "position": _optional(_whole(0, 100_000)),
        "qemu_pid": _optional(_whole(0, 1 << 31)),
        "qemu_started": _optional(_TIME),
        "pilot": _whole(0, 1),
    },
    "measurements": {
        "target": _name("target"),
        "benchmark": _name("benchmark"),
        "category": _name("category"),
        "metric": _name("metric"),
        "unit": _text,
        "direction": _one_of("lower", "higher"),
        "repetition": _COUNT,
        "sub": _COUNT,
        "value": _number(0.0, MAX_VALUE),
        "launch": _whole(1, 100_000),
        "pilot": _whole(0, 1),
    },
    "attestations": {
        "vm": _name("vm"),
        "status": _name("status"),
        "measurement": _optional(_text),
        "reasons": _json(list),
        "document": _json(dict),
        "created": _TIME,
    },
    "probes": {
        "vm": _name("vm"),
        "kind": _name("kind"),
        "method": _name("method"),
        "found": _whole(0, 1),
        "hits": _COUNT,
        "bytes_scanned": _COUNT,
        "seconds": _number(0.0, MAX_VALUE),
        "throughput_gbps": _number(0.0, MAX_VALUE),
        "created": _TIME,
        "reason": _text,
        "qemu_pid": _optional(_whole(0, 1 << 31)),
        "qemu_started": _optional(_TIME),
    },
}
"""Per table, per column that a merge copies: what its value must be."""


def check_row(table: str, columns: tuple[str, ...], row: tuple[Any, ...]) -> None:
    """Raise BadValue('column C: why') for the first unusable value of ROW."""
    checks = CHECKS[table]
    for column, value in zip(columns, row, strict=True):
        try:
            checks[column](value)
        except BadValue as exc:
            raise BadValue(f"column {column}: {exc}") from None
