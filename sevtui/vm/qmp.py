"""A small synchronous QMP client with hard timeouts, for short control sessions.

QEMU serves one QMP client per socket at a time, so sevtui connects, asks, and
disconnects. Every failure (no socket, no greeting, an error reply, a dropped
connection) becomes a QmpError with a plain message, never a traceback.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from types import TracebackType
from typing import Any

from sevtui.base.errors import SevtuiError


class QmpError(SevtuiError):
    """QMP could not be reached, or QEMU answered with an error."""

    def __init__(self, message: str, error_class: str = "", hint: str = "") -> None:
        super().__init__(message, hint)
        self.error_class = error_class


class QmpClient:
    """One QMP session: `with QmpClient(path) as qmp: qmp.execute("query-status")`."""

    def __init__(self, path: Path, timeout: float = 3.0) -> None:
        self.path = path
        self.timeout = timeout
        self.events: list[dict[str, Any]] = []
        self.greeting: dict[str, Any] = {}
        self._sock: socket.socket | None = None
        self._buffer = b""
        self._next_id = 0

    def __enter__(self) -> QmpClient:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def connect(self) -> None:
        """Connect, read the greeting and leave capabilities negotiation mode."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self.path))
        except OSError as exc:
            sock.close()
            raise QmpError(f"cannot connect to QMP at {self.path}: {exc.strerror or exc}") from None
        self._sock = sock
        greeting = self._read_message()
        if "QMP" not in greeting:
            self.close()
            raise QmpError(f"unexpected QMP greeting from {self.path}: {str(greeting)[:120]}")
        self.greeting = greeting["QMP"]
        self.execute("qmp_capabilities")

    def close(self) -> None:
        """Drop the connection (idempotent)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def execute(self, command: str, arguments: dict[str, Any] | None = None) -> Any:
        """Run one command and return its `return` value; events seen meanwhile are kept."""
        if self._sock is None:
            raise QmpError("QMP is not connected")
        self._next_id += 1
        request: dict[str, Any] = {"execute": command, "id": self._next_id}
        if arguments:
            request["arguments"] = arguments
        try:
            self._sock.sendall(json.dumps(request, allow_nan=False).encode() + b"\n")
        except OSError as exc:
            self.close()
            raise QmpError(f"QMP connection lost sending {command}: {exc}") from None
        while True:
            reply = self._read_message()
            if "event" in reply:
                self.events.append(reply)
                continue
            if reply.get("id") != self._next_id:
                continue
            if "error" in reply:
                error = reply["error"] if isinstance(reply["error"], dict) else {}
                raise QmpError(
                    f"QEMU refused {command}: {error.get('desc', 'unknown error')}",
                    str(error.get("class", "")),
                )
            return reply.get("return")

    def _read_message(self) -> dict[str, Any]:
        assert self._sock is not None
        while b"\n" not in self._buffer:
            try:
                chunk = self._sock.recv(65536)
            except TimeoutError:
                self.close()
                raise QmpError(
                    f"QMP at {self.path} did not answer within {self.timeout:g} s",
                    hint="another client may hold the QMP socket, or QEMU is stuck",
                ) from None
            except OSError as exc:
                self.close()
                raise QmpError(f"QMP connection lost: {exc.strerror or exc}") from None
            if not chunk:
                self.close()
                raise QmpError("QMP connection closed by QEMU")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            message = json.loads(line)
        except ValueError:
            raise QmpError(f"QMP sent something that is not JSON: {line[:80]!r}") from None
        if not isinstance(message, dict):
            raise QmpError(f"QMP sent a non-object message: {line[:80]!r}")
        return message
