"""Fault matrix, fast rows: QMP faults, QEMU error texts, hostile input, the database."""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sevtui.base.errors import ConfigError, SevtuiError
from sevtui.cli.commands import main
from sevtui.config import parse_config
from sevtui.store.db import Store
from sevtui.vm.diagnose import explain
from sevtui.vm.qmp import QmpClient, QmpError

REPO = Path(__file__).resolve().parents[2]
GREETING = b'{"QMP": {"version": {"qemu": {"major": 7}}, "capabilities": []}}\n'


@pytest.fixture
def qmp_server(tmp_path: Path) -> Iterator[Callable[[Callable[[socket.socket], None]], Path]]:
    """A fake QMP server on a unix socket; each test scripts its behaviour."""
    threads: list[threading.Thread] = []

    def serve(script: Callable[[socket.socket], None]) -> Path:
        path = Path(f"/tmp/sevtui-qmp-{time.monotonic_ns()}.sock")
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        server.listen(1)

        def run() -> None:
            conn, _ = server.accept()
            try:
                script(conn)
            finally:
                conn.close()
                server.close()
                path.unlink(missing_ok=True)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        threads.append(thread)
        return path

    yield serve
    for thread in threads:
        thread.join(timeout=5)


def answer(conn: socket.socket, *replies: bytes) -> None:
    reader = conn.makefile("rb")
    for reply in replies:
        request = json.loads(reader.readline())
        conn.sendall(reply.replace(b"ID", str(request.get("id")).encode()))


def test_qmp_error_reply_and_unknown_keys(qmp_server) -> None:  # type: ignore[no-untyped-def]
    def script(conn: socket.socket) -> None:
        conn.sendall(GREETING)
        answer(
            conn,
            b'{"return": {}, "id": ID, "extra": 1}\n',
            b'{"event": "STOP", "timestamp": {}}\n{"error": {"class": "GenericError", '
            b'"desc": "SEV feature is not available", "new": true}, "id": ID}\n',
        )

    with QmpClient(qmp_server(script)) as qmp, pytest.raises(QmpError) as info:
        qmp.execute("query-sev")
    assert info.value.message == "QEMU refused query-sev: SEV feature is not available"
    assert info.value.error_class == "GenericError"
    assert qmp.events[0]["event"] == "STOP"


def test_qmp_connection_dropped_mid_command(qmp_server) -> None:  # type: ignore[no-untyped-def]
    def script(conn: socket.socket) -> None:
        conn.sendall(GREETING)
        answer(conn, b'{"return": {}, "id": ID}\n')
        conn.makefile("rb").readline()

    with QmpClient(qmp_server(script)) as qmp, pytest.raises(QmpError, match="closed by QEMU"):
        qmp.execute("query-status")


def test_qmp_greeting_that_never_comes(qmp_server) -> None:  # type: ignore[no-untyped-def]
    def script(conn: socket.socket) -> None:
        time.sleep(1.5)

    started = time.monotonic()
    with pytest.raises(QmpError, match=re.escape("did not answer within 0.5 s")):
        QmpClient(qmp_server(script), timeout=0.5).connect()
    assert time.monotonic() - started < 1.5


def test_qmp_garbage(qmp_server) -> None:  # type: ignore[no-untyped-def]
    def script(conn: socket.socket) -> None:
        conn.sendall(b"this is not json\n")

    with pytest.raises(QmpError, match="not JSON"):
        QmpClient(qmp_server(script)).connect()


def test_qmp_no_socket(tmp_path: Path) -> None:
    with pytest.raises(QmpError, match="cannot connect to QMP"):
        QmpClient(tmp_path / "none.sock").connect()


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        ("qemu-system-x86_64: sev_guest_init: Failed to open /dev/sev 'No such file'", "ccp"),
        (
            "qemu: -accel kvm: sev_kvm_init: cbitpos check failed, host '51' requested '47'",
            "does not match this CPU",
        ),
        (
            "qemu: -accel kvm: sev_kvm_init: cbitpos check failed, host '0' requested '51'",
            "no AMD memory encryption",
        ),
        (
            "sev_snp_launch_start: SNP_LAUNCH_START ret=-22 fw_error=7 'Invalid policy'",
            "refused to launch the SEV-SNP guest",
        ),
        ("qemu-system-x86_64: SEV is not available in this QEMU", "built without SEV"),
        ("Parameter 'qom-type' does not accept value 'sev-snp-guest'", "built without SEV"),
        ("invalid object type: sev-guest", "built without SEV"),
        ("KVM_SEV_INIT failed ret=-16", "KVM refused to initialise SEV"),
        # QEMU 10.0.2's own words on a host without SEV (see tests/integration/test_qemu10.py).
        (
            "qemu-system-x86_64: -accel kvm: vm-type SEV-SNP not supported by KVM",
            "kvm_amd loaded with sev=1, sev_es=1, sev_snp=1",
        ),
        ("qemu-system-x86_64: parameter length of 12 not equal to 32", "exactly 32 bytes"),
        (
            "sev_ram_block_added: failed to register region (0x7f00) ret=-12",
            "raise RLIMIT_MEMLOCK",
        ),
    ],
)
def test_qemu_sev_errors_have_plain_explanations(stderr: str, expected: str) -> None:
    assert expected in explain(stderr)


def test_no_shell_true_anywhere_in_sevtui() -> None:
    offenders = [
        str(path)
        for path in (REPO / "sevtui").rglob("*.py")
        if re.search(r"shell\s*=\s*True", path.read_text())
    ]
    assert offenders == []


@pytest.mark.parametrize(
    "name", ["a;touch /tmp/pwn", "$(id)", "x\ny", "a" * 4096, "`id`", "../../etc"]
)
def test_hostile_vm_names_are_rejected(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vm", "argv", name]) == 2
    assert "no VM named" in capsys.readouterr().err


def test_hostile_values_in_config_are_rejected_or_single_arguments(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        parse_config('[vm."$(id)"]\n', tmp_path / "c.toml")
    with pytest.raises(ConfigError):
        parse_config('[vm.a]\nnetwork = "br0;touch /tmp/x"\n', tmp_path / "c.toml")
    config = parse_config('[vm.a]\nextra_args = ["a;touch /tmp/x", "$(id)"]\n', tmp_path / "c.toml")
    assert config.vm["a"].extra_args == ["a;touch /tmp/x", "$(id)"]


def test_non_utf8_cli_argument(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vm", "argv", "na\udcffme"]) == 2
    assert "Traceback" not in capsys.readouterr().err


KEYS = st.sampled_from(
    [
        "paths",
        "qemu",
        "vm",
        "bench",
        "image",
        "benchmark",
        "suites",
        "memory",
        "kind",
        "vcpus",
        "accel",
        "binary",
        "policy",
        "extra_args",
        "data_dir",
        "timeout_s",
        "x",
    ]
)
VALUES = st.recursive(
    st.one_of(st.text(max_size=20), st.integers(), st.booleans(), st.floats(allow_nan=False)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=12,
)


def _toml_value(value: object) -> str:
    return json.dumps(value) if not isinstance(value, bool) else str(value).lower()


FUZZ_EXAMPLES = int(os.environ.get("SEVTUI_FUZZ_EXAMPLES", "100"))


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(KEYS, VALUES, max_size=5), st.text(max_size=200))
def test_config_fuzz_gives_readable_errors_only(data: dict[str, object], junk: str) -> None:
    path = Path("/tmp/sevtui-fuzz/config.toml")
    lines = []
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(f"[{key}]")
            lines += [
                f"{k} = {_toml_value(v)}" for k, v in value.items() if not isinstance(v, dict)
            ]
        else:
            lines.insert(0, f"{key} = {_toml_value(value)}")
    for text in ("\n".join(lines), junk):
        try:
            parse_config(text, path)
        except ConfigError as exc:
            assert all(line.startswith(f"{path}: ") for line in exc.problems), exc.problems


def test_two_processes_one_database_and_a_long_lock(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    first, second = Store(db), Store(db)
    a = first.create_run("a", "running")
    b = second.create_run("b", "running")
    assert {run.label for run in first.runs()} == {"a", "b"} and a != b
    blocker = sqlite3.connect(db, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")
    started = time.monotonic()
    with pytest.raises(SevtuiError, match="database busy") as info:
        second.create_run("c", "running")
    assert "retry" in info.value.hint
    assert time.monotonic() - started >= 4
    blocker.rollback()
    second.create_run("c", "running")
    assert len(first.runs()) == 3
