"""`attest verify` of a real TD quote with its collateral (dcap-qvl's samples), as of a
time inside the collateral's window; rejected when a signed bit flips, outside the
window, or with another nonce; random bytes are unusable input."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest

from sevtui.attest.tdquote import is_td_quote
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


def test_hex_text_of_the_quote_is_read_too(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    hexed = tmp_path / "quote.hex"
    hexed.write_text(QUOTE.read_bytes().hex() + "\n")
    assert verify(capsys, hexed, "--at", INSIDE)[0] == 0


def test_random_bytes_and_a_missing_collateral_are_unusable_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    noise = tmp_path / "noise"
    noise.write_bytes(bytes(range(256)) * 20)
    assert main(["attest", "verify", str(noise), "--collateral", str(COLLATERAL)]) == 2
    assert main(["attest", "verify", str(QUOTE)]) == 2
    assert "needs its collateral" in capsys.readouterr().err
    bad_time = ["--collateral", str(COLLATERAL), "--at", "yesterday"]
    assert main(["attest", "verify", str(QUOTE), *bad_time]) == 2


def test_require_up_to_date_passes_an_up_to_date_quote(
    capsys: pytest.CaptureFixture[str],
) -> None:
    extra = ["--at", INSIDE, "--require-up-to-date"]
    code = main(["attest", "verify", str(QUOTE), "--collateral", str(COLLATERAL), *extra])
    assert code == 0
    assert "TCB status UpToDate" in capsys.readouterr().out
