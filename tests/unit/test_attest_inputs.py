"""Attestation inputs a root process must survive: FIFOs, devices and huge files as the
report, VCEK or chain; a key service that dribbles; a damaged cached VCEK; credentials
in kds_url."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sevtui.attest import kds
from sevtui.base.errors import SevtuiError
from sevtui.cli.commands import main
from tests.unit.test_attest import REPORT_HEX, VCEK, milan


def _verify(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess: a hang fails the test instead of the whole suite."""
    return subprocess.run(
        [sys.executable, "-m", "sevtui", "attest", "verify", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.mark.parametrize("role", ["report", "vcek", "chain"])
def test_a_fifo_as_any_input_is_refused_without_waiting(tmp_path: Path, role: str) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    args = {
        "report": [str(fifo), "--vcek", str(VCEK)],
        "vcek": [str(REPORT_HEX), "--vcek", str(fifo)],
        "chain": [str(REPORT_HEX), "--vcek", str(VCEK), "--chain", str(fifo)],
    }[role]
    done = _verify(*args, timeout=30)
    assert done.returncode == 2, done.stderr
    assert "is not a regular file" in done.stderr and "Traceback" not in done.stderr


def test_a_device_or_a_huge_sparse_chain_is_refused_by_its_size(tmp_path: Path) -> None:
    done = _verify(str(REPORT_HEX), "--vcek", str(VCEK), "--chain", "/dev/zero", timeout=30)
    assert done.returncode == 2 and "/dev/zero is not a regular file" in done.stderr
    sparse = tmp_path / "sparse.pem"
    with sparse.open("wb") as handle:
        handle.truncate(1 << 30)
    done = _verify(str(REPORT_HEX), "--vcek", str(VCEK), "--chain", str(sparse), timeout=30)
    assert done.returncode == 2, done.stderr
    assert "1073741824 bytes, more than a certificate chain can have" in done.stderr


def test_hex_with_junk_appended_is_not_hex(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk.hex"
    junk.write_bytes(REPORT_HEX.read_bytes().strip() + b"zz\n")
    capsys.readouterr()
    assert main(["attest", "verify", str(junk), "--vcek", str(VCEK)]) == 2
    err = capsys.readouterr().err
    assert "not hex: byte" in err and "b'z'" in err


@pytest.fixture
def dribbling_kds() -> Iterator[str]:
    """A key service on 127.0.0.1 that sends one header byte every 0.3 s, forever."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                for byte in b"HTTP/1.1 200 OK\r\n" * 1000:
                    if stop.wait(0.3):
                        break
                    try:
                        conn.sendall(bytes([byte]))
                    except OSError:
                        break

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(5)
    listener.close()


def test_a_kds_that_dribbles_hits_the_total_deadline(
    dribbling_kds: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kds, "TOTAL_S", 2.0)
    started = time.monotonic()
    with pytest.raises(SevtuiError, match="no complete answer within 2 s"):
        kds.cached_or_fetched(
            Path(os.environ["XDG_DATA_HOME"]) / "c", dribbling_kds, "Milan", milan()
        )
    assert time.monotonic() - started < 10


def test_a_damaged_cached_vcek_names_the_file_to_delete(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    report = milan()
    cache.mkdir(mode=0o700)
    damaged = cache / kds.cache_name("Milan", report)
    damaged.write_bytes(VCEK.read_bytes()[:100])
    damaged.chmod(0o600)
    with pytest.raises(SevtuiError, match=r"the cached VCEK .* is not a certificate") as raised:
        kds.cached_or_fetched(cache, "http://127.0.0.1:9", "Milan", report)
    assert f"rm {damaged}" in raised.value.hint


def test_credentials_in_kds_url_are_refused_and_never_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[attest]\nkds_url = "http://user:S3CRET@127.0.0.1:9"\n')
    capsys.readouterr()
    assert main(["--config", str(config), "config", "check"]) == 2
    out = capsys.readouterr()
    assert "user name or password" in out.err
    assert "S3CRET" not in out.err + out.out
