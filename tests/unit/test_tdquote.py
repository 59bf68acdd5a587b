"""`attest verify` of a real TD quote with its collateral (dcap-qvl's samples), as of a
time inside the collateral's window; rejected when a signed bit flips, outside the
window, or with another nonce; random bytes are unusable input."""

from __future__ import annotations

import http.server
import json
import secrets
import struct
import threading
import urllib.parse
from pathlib import Path
from typing import Any, ClassVar

import pytest

from sevtui.attest import guest
from sevtui.attest.service import KeySources, attest_vm
from sevtui.attest.tdquote import is_td_quote
from sevtui.attest.vms import as_row
from sevtui.base.ports import free_port
from sevtui.cli.commands import main
from tests.sysroots import DATA

QUOTE = DATA / "tdx-quote" / "tdx_quote"
COLLATERAL = DATA / "tdx-quote" / "tdx_quote_collateral.json"
INSIDE = "2025-07-01T00:00:00Z"
REPORT_DATA_AT = 48 + 520
"""Where a v4 quote's TD report body holds report_data (the header, then 520 bytes)."""


def verify(
    capsys: pytest.CaptureFixture[str], quote: Path, *extra: str
) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main(["attest", "verify", str(quote), "--collateral", str(COLLATERAL), "--json", *extra])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip().startswith("{") else {}


def test_the_sample_quote_verifies_inside_its_collaterals_window(
    capsys: pytest.CaptureFixture[str],
) -> None:
    raw = QUOTE.read_bytes()
    assert struct.unpack_from("<HHI", raw) == (4, 2, 0x81) and is_td_quote(raw)
    code, shown = verify(capsys, QUOTE, "--at", INSIDE)
    assert code == 0, shown
    assert shown["status"] == "verified" and shown["kind"] == "tdx-quote"
    assert shown["tcb_status"] == "UpToDate" and shown["advisory_ids"] == []
    assert shown["report_data"] == raw[REPORT_DATA_AT : REPORT_DATA_AT + 64].hex()
    assert len(bytes.fromhex(shown["mrtd"])) == 48 and "rtmr3" in shown


def test_a_flipped_bit_in_the_signed_body_is_rejected(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    flipped = bytearray(QUOTE.read_bytes())
    flipped[REPORT_DATA_AT] ^= 1
    changed = tmp_path / "flipped"
    changed.write_bytes(bytes(flipped))
    code, shown = verify(capsys, changed, "--at", INSIDE)
    assert code == 1 and shown["status"] == "failed"
    assert "does not verify to Intel's root" in shown["reasons"][0]


def test_collateral_outside_its_window_is_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    code, shown = verify(capsys, QUOTE, "--at", "2026-07-01T00:00:00Z")
    assert code == 1 and "Expired" in shown["reasons"][0]


def test_a_wrong_nonce_is_rejected_and_the_right_one_matches(
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = QUOTE.read_bytes()[REPORT_DATA_AT : REPORT_DATA_AT + 64]
    code, shown = verify(capsys, QUOTE, "--at", INSIDE, "--nonce", data.hex())
    assert code == 0 and shown["nonce_matches"] is True
    code, shown = verify(capsys, QUOTE, "--at", INSIDE, "--nonce", "00" * 64)
    assert code == 1 and shown["nonce_matches"] is False
    code, shown = verify(capsys, QUOTE, "--at", INSIDE, "--nonce", data[:8].hex())
    assert code == 1 and shown["nonce_matches"] is False, "a prefix is not the nonce"


def test_hex_text_of_the_quote_is_read_too(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    hexed = tmp_path / "quote.hex"
    hexed.write_text(QUOTE.read_bytes().hex() + "\n")
    assert verify(capsys, hexed, "--at", INSIDE)[0] == 0


def test_random_bytes_and_a_bad_time_are_unusable_input(tmp_path: Path) -> None:
    noise = tmp_path / "noise"
    noise.write_bytes(bytes(range(256)) * 20)
    assert main(["attest", "verify", str(noise), "--collateral", str(COLLATERAL)]) == 2
    bad_time = ["--collateral", str(COLLATERAL), "--at", "yesterday"]
    assert main(["attest", "verify", str(QUOTE), *bad_time]) == 2


def test_require_up_to_date_passes_an_up_to_date_quote(
    capsys: pytest.CaptureFixture[str],
) -> None:
    extra = ["--at", INSIDE, "--require-up-to-date"]
    code = main(["attest", "verify", str(QUOTE), "--collateral", str(COLLATERAL), *extra])
    assert code == 0
    assert "TCB status UpToDate" in capsys.readouterr().out


class FakePcs(http.server.BaseHTTPRequestHandler):
    """Intel's PCS API on 127.0.0.1, answering with the sample collateral's parts."""

    parts: ClassVar[dict[str, Any]] = json.loads(COLLATERAL.read_text())
    asked: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.asked.append(self.path)
        parts = self.parts
        chain: tuple[str, str] | None = None
        if self.path.startswith("/sgx/certification/v4/pckcrl?"):
            body = bytes.fromhex(parts["pck_crl"])
            chain = ("SGX-PCK-CRL-Issuer-Chain", parts["pck_crl_issuer_chain"])
        elif self.path.startswith("/tdx/certification/v4/tcb?fmspc=B0C06F000000"):
            signed = parts["tcb_info"], parts["tcb_info_signature"]
            body = f'{{"tcbInfo":{signed[0]},"signature":"{signed[1]}"}}'.encode()
            chain = ("TCB-Info-Issuer-Chain", parts["tcb_info_issuer_chain"])
        elif self.path.startswith("/tdx/certification/v4/qe/identity"):
            signed = parts["qe_identity"], parts["qe_identity_signature"]
            body = f'{{"enclaveIdentity":{signed[0]},"signature":"{signed[1]}"}}'.encode()
            chain = ("SGX-Enclave-Identity-Issuer-Chain", parts["qe_identity_issuer_chain"])
        elif self.path == "/sgx/certification/v4/rootcacrl":
            body = parts["root_ca_crl"].encode()
        else:
            self.send_error(404)
            return
        self.send_response(200)
        if chain is not None:
            self.send_header(chain[0], urllib.parse.quote(chain[1]))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        """Quiet."""


def test_collateral_comes_from_the_pcs_once_then_from_the_cache(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), FakePcs)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = tmp_path / "config.toml"
    config.write_text(
        f'[paths]\ndata_dir = "{tmp_path / "data"}"\n'
        f'[attest]\npcs_url = "http://127.0.0.1:{server.server_address[1]}"\n'
    )
    args = ["--config", str(config), "attest", "verify", str(QUOTE), "--at", INSIDE, "--json"]
    try:
        capsys.readouterr()
        assert main(args) == 0
        first = json.loads(capsys.readouterr().out)
        assert first["status"] == "verified" and first["tcb_status"] == "UpToDate"
        assert first["collateral_source"].startswith("http://127.0.0.1:")
        assert any(path.startswith("/tdx/certification/v4/tcb?fmspc=") for path in FakePcs.asked)
    finally:
        server.shutdown()
    cached = sorted((tmp_path / "data" / "attest" / "tdx").iterdir())
    assert [p.name for p in cached] == ["collateral-b0c06f000000-platform.json"]
    assert oct(cached[0].stat().st_mode & 0o777) == oct(0o600)
    assert main(args) == 0, "the service is gone: the cache answers"
    assert json.loads(capsys.readouterr().out)["collateral_source"].startswith("cache ")


def test_an_unreachable_pcs_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    config = tmp_path / "config.toml"
    config.write_text(f'[paths]\ndata_dir = "{tmp_path / "data"}"\n[attest]\npcs_url = "{url}"\n')
    capsys.readouterr()
    assert main(["--config", str(config), "attest", "verify", str(QUOTE), "--at", INSIDE]) == 1
    err = capsys.readouterr().err
    assert f"fetching the quote's collateral from {url} failed" in err
    assert "--collateral FILE" in err and "Traceback" not in err


def td_answer() -> str:
    """What the guest-side fetch script prints in a TD: configfs-tsm's quote, as hex."""
    quote = QUOTE.read_bytes().hex()
    return f"sevtui-attest.interface=configfs-tsm (tdx_guest)\nsevtui-attest.report={quote}\n"


def test_a_tds_quote_must_carry_the_nonce() -> None:
    raw = QUOTE.read_bytes()
    carried = guest.read_answer(td_answer(), nonce=raw[REPORT_DATA_AT : REPORT_DATA_AT + 64])
    assert carried.quote == raw and carried.problem == "" and carried.report is None
    replayed = guest.read_answer(td_answer(), nonce=bytes(64))
    assert replayed.problem == guest.REPLAYED


def test_attesting_a_running_td_verifies_its_quote_and_stores_its_mrtd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guest's shell answers with a real quote; the nonce it carries is the one the
    fetch drew (the random source is fixed to it), and its collateral comes from a
    stand-in PCS. As of now that collateral is out of its window: the verdict says so."""
    report_data = QUOTE.read_bytes()[REPORT_DATA_AT : REPORT_DATA_AT + 64]
    monkeypatch.setattr(secrets, "token_bytes", lambda _size: report_data)
    server = http.server.HTTPServer(("127.0.0.1", 0), FakePcs)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    keys = KeySources(tmp_path / "cache", pcs_url=f"http://127.0.0.1:{server.server_address[1]}")
    try:
        result = attest_vm("td", lambda _script, _timeout: (td_answer(), 0), [], keys)
    finally:
        server.shutdown()
    assert result.interface == "configfs-tsm (tdx_guest)"
    assert result.status == "failed" and "does not verify to Intel's root" in result.reasons[0]
    assert result.td_quote is not None
    row = as_row(result.to_json())
    assert row.measurement is not None and row.measurement == result.td_quote["mrtd"]
    assert len(bytes.fromhex(row.measurement)) == 48


def test_a_damaged_quote_without_collateral_is_unusable_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    damaged = tmp_path / "damaged"
    damaged.write_bytes(QUOTE.read_bytes()[:700])
    capsys.readouterr()
    assert main(["attest", "verify", str(damaged), "--at", INSIDE]) == 2
    assert "Traceback" not in capsys.readouterr().err
