"""Names from people and other machines: refused at the door when unsafe, shown safely.

sevtui runs as root and prints labels, profiles and host replies to a terminal; a name
with an escape sequence could rewrite the screen or the window title, and a label with
a slash could name a folder outside sevtui's own. Names are checked where they enter
(typed, imported, merged); any text that came from outside is shown through `visible`.
"""

from __future__ import annotations

import re
from typing import Any, TextIO

from sevtui.base.errors import UsageError

MAX_NAME = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _shown(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def visible(text: str, lines: bool = False) -> str:
    """TEXT with control characters written out (ESC as \\x1b); LINES keeps newlines and
    tabs, for multi-line output such as a guest's."""
    return (_CONTROL_BUT_LINES if lines else _CONTROL).sub(_shown, text)


def control_character(text: str) -> str | None:
    """The first control character of TEXT, written out, or None."""
    found = _CONTROL.search(text)
    return _shown(found) if found else None


def check_name(value: str, what: str) -> str:
    """VALUE when it is a usable name (profile, target, host): printable and not empty."""
    if not value.strip():
        raise UsageError(f"{what} is empty", f"give the {what} a name")
    if len(value) > MAX_NAME:
        raise UsageError(
            f"{what} {visible(value[:40])}... is {len(value)} characters long",
            f"use at most {MAX_NAME}",
        )
    bad = control_character(value)
    if bad:
        raise UsageError(
            f"{what} {visible(value)!r} contains the control character {bad}",
            "names are shown in terminals: use printable characters only",
        )
    return value


def check_label(value: str, what: str = "label") -> str:
    """VALUE when it is a usable run label: a name that is also one folder name (a fleet
    keeps each label's databases in a folder of that name)."""
    check_name(value, what)
    if "/" in value or value in (".", ".."):
        raise UsageError(
            f"{what} {value!r} is not one folder name (it has '/' or is '.' or '..')",
            "use letters, digits and - _ . @ = in labels",
        )
    return value


def safe_file_stem(value: str, what: str) -> str:
    """VALUE when it can be the stem of a file name inside one of sevtui's folders
    (a host's name from an inventory): a label's rules, and no leading dot."""
    check_label(value, what)
    if value.startswith("."):
        raise UsageError(f"{what} {value!r} starts with a dot", "rename it in the inventory")
    return value


class VisibleStream:
    """A text stream that writes control characters out before they reach a terminal
    (newlines and tabs stay): every line the CLI prints goes through one."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        """Write TEXT with its control characters made visible."""
        self.stream.write(visible(text, lines=True))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)
