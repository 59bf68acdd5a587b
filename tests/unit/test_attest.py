"""SEV-SNP attestation against a real Milan report, its VCEK and AMD's chains.

The fixtures (tests/data/snp-attestation, from virtee/sev; see its README) come from real
AMD hardware; the expected values below are the README's facts.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from sevtui.attest import guest, report, verify
from sevtui.attest.measure import expected
from sevtui.base.errors import UsageError
from sevtui.cli.commands import main
from tests.sysroots import DATA

FIXTURES = DATA / "snp-attestation"
REPORT_HEX = FIXTURES / "report_milan.hex"
VCEK = FIXTURES / "vcek_milan.der"
MEASUREMENT = (
    "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d"
    "3e1a0dc39b2c60bd95b9c480cd81841f"
)
CACHE = Path(__file__).resolve().parents[2] / ".cache/upstream-qemu/root"


def milan() -> report.Report:
    return report.load(REPORT_HEX.read_bytes(), str(REPORT_HEX))


def vcek(path: Path = VCEK) -> x509.Certificate:
    return verify.load_certificate(path.read_bytes(), str(path))


def attest_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object]]:
    capsys.readouterr()
    code = main(["attest", *args, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


def test_the_milan_report_verifies_to_amds_root(capsys: pytest.CaptureFixture[str]) -> None:
    code, result = attest_json(capsys, "verify", str(REPORT_HEX), "--vcek", str(VCEK))
    assert code == 0
    assert result["verified"] is True and result["reasons"] == []
    data = result["report"]
    assert isinstance(data, dict)
    assert data["measurement"] == MEASUREMENT
    assert data["policy"] == "0x30000"
    assert data["version"] == 2 and data["vmpl"] == 0
    assert data["policy_flags"] == ["ABI >= 0.0", "SMT allowed", "debug not allowed"]
    assert data["reported_tcb"] == {"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115}
    assert result["chain"] == "Milan"
    assert result["expected_measurement"] is None and result["measurement_matches"] is None


def test_the_raw_binary_form_verifies_too(tmp_path: Path) -> None:
    raw = tmp_path / "report.bin"
    raw.write_bytes(bytes.fromhex(REPORT_HEX.read_text()))
    assert main(["attest", "verify", str(raw), "--vcek", str(VCEK)]) == 0


def test_flipping_any_signed_bit_fails_verification() -> None:
    good = milan()
    key, chain = vcek(), verify.builtin_chain("Milan")
    assert verify.verify(good, key, chain).verified
    passed = []
    for bit in range(report.SIGNED_END * 8):
        raw = bytearray(good.raw)
        raw[bit // 8] ^= 1 << (bit % 8)
        try:
            tampered = report.parse(bytes(raw))
        except UsageError:
            continue  # the version field no longer names a report version
        if verify.verify(tampered, key, chain).verified:
            passed.append(bit)
    assert passed == []


def test_a_tampered_measurement_names_the_signature(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = bytearray(bytes.fromhex(REPORT_HEX.read_text()))
    raw[0x90] ^= 0x01
    path = tmp_path / "tampered.bin"
    path.write_bytes(bytes(raw))
    code, result = attest_json(capsys, "verify", str(path), "--vcek", str(VCEK))
    assert code == 1
    assert result["reasons"] == ["the report's signature does not verify with the VCEK's key"]


def test_the_turin_chain_does_not_verify_a_milan_vcek(capsys: pytest.CaptureFixture[str]) -> None:
    chain = FIXTURES / "cert_chain_turin"
    code, result = attest_json(
        capsys, "verify", str(REPORT_HEX), "--vcek", str(VCEK), "--chain", str(chain)
    )
    assert code == 1
    assert result["reasons"] == ["VCEK signed by ASK (Turin): signature does not verify"]
    assert (
        main(["attest", "verify", str(REPORT_HEX), "--vcek", str(VCEK), "--chain", str(chain)]) == 1
    )


def test_amds_own_milan_chain_file_verifies(capsys: pytest.CaptureFixture[str]) -> None:
    chain = FIXTURES / "cert_chain_milan"
    code, _ = attest_json(
        capsys, "verify", str(REPORT_HEX), "--vcek", str(VCEK), "--chain", str(chain)
    )
    assert code == 0


def test_the_turin_vcek_does_not_verify_a_milan_report() -> None:
    verdict = verify.verify(
        milan(), vcek(FIXTURES / "vcek_turin.der"), verify.builtin_chain("Turin")
    )
    assert not verdict.verified
    assert "the report's signature does not verify with the VCEK's key" in verdict.reasons
    assert any(r.startswith("the VCEK was issued for another TCB") for r in verdict.reasons)
    assert any("belongs to another chip" in reason for reason in verdict.reasons)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (bytes(793), "793 bytes; an SEV-SNP attestation report is 1184 bytes (truncated)"),
        (bytes(2000), "2000 bytes; an SEV-SNP attestation report is 1184 bytes (too long)"),
        (b"abc", "odd number of hex digits"),
        (b"", "0 bytes"),
    ],
)
def test_unusable_input_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    path = tmp_path / "bad"
    path.write_bytes(content)
    capsys.readouterr()
    assert main(["attest", "verify", str(path), "--vcek", str(VCEK)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_an_unknown_report_version_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = bytearray(bytes.fromhex(REPORT_HEX.read_text()))
    raw[0] = 9
    path = tmp_path / "v9.bin"
    path.write_bytes(bytes(raw))
    capsys.readouterr()
    assert main(["attest", "verify", str(path), "--vcek", str(VCEK)]) == 2
    assert "report version 9; sevtui reads versions 2-5" in capsys.readouterr().err


def test_a_vcek_that_is_not_a_certificate_is_unusable_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bogus = tmp_path / "vcek.der"
    bogus.write_text("<html>404</html>")
    capsys.readouterr()
    assert main(["attest", "verify", str(REPORT_HEX), "--vcek", str(bogus)]) == 2
    assert "not an X.509 certificate" in capsys.readouterr().err


HTML_404 = b"<!DOCTYPE html><html><body>404 Not Found</body></html>"


class FakeKds:
    """AMD's key distribution service on 127.0.0.1: canned answers first, then the VCEK."""

    def __init__(self, answers: list[tuple[int, bytes]]) -> None:
        self.answers = answers
        self.paths: list[str] = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.paths.append(self.path)
                status, body = fake.answers.pop(0) if fake.answers else (200, VCEK.read_bytes())
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                del format, args

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def config(self, folder: Path) -> Path:
        """A config that fetches VCEKs (for Milan) from this service into FOLDER/data."""
        path = folder / "config.toml"
        path.write_text(
            f'[paths]\ndata_dir = "{folder / "data"}"\n'
            f'[attest]\nkds_url = "{self.url}"\nproduct = "Milan"\n'
        )
        return path


@pytest.fixture
def kds(tmp_path: Path) -> Iterator[tuple[FakeKds, Path]]:
    server = FakeKds([(404, HTML_404)])
    yield server, server.config(tmp_path)
    server.server.shutdown()


def test_the_vcek_comes_from_kds_once_and_an_error_page_is_refused(
    kds: tuple[FakeKds, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    server, config = kds
    args = ["--config", str(config), "attest", "verify", str(REPORT_HEX)]
    capsys.readouterr()
    assert main(args) == 1
    err = capsys.readouterr()
    assert "refused" in err.out and "HTTP 404 (an HTML page)" in err.out
    cache = config.parent / "data/attest"
    assert not any(cache.glob("*.der")), "an error page was cached"

    assert main([*args, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["verified"] is True
    tcb = "blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115"
    chip = milan().chip_id.hex()
    assert server.paths == [f"/vcek/v1/Milan/{chip}?{tcb}"] * 2
    assert [p.name for p in cache.glob("*.der")] == [f"vcek-Milan-{chip[:32]}-7308000000000003.der"]

    server.server.shutdown()
    assert main(args) == 0, "the cached VCEK is used without the service"
    assert len(server.paths) == 2


def test_a_kds_that_answers_200_with_html_is_not_a_certificate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = FakeKds([(200, b"<html><body>maintenance</body></html>")])
    try:
        capsys.readouterr()
        config = server.config(tmp_path)
        code = main(["--config", str(config), "attest", "verify", str(REPORT_HEX), "--json"])
    finally:
        server.server.shutdown()
    assert code == 1
    result = json.loads(capsys.readouterr().out)
    assert "something that is not a certificate (an HTML page)" in result["reasons"][0]
    assert not any((tmp_path / "data/attest").glob("*.der"))


def test_a_report_that_does_not_carry_the_nonce_is_rejected_as_replayed() -> None:
    answer = "sevtui-attest.interface=configfs-tsm (sev_guest)\nsevtui-attest.report=" + (
        REPORT_HEX.read_text().strip()
    )
    fetched = guest.read_answer(answer, nonce=bytes(64))
    assert fetched.report is not None and fetched.problem == guest.REPLAYED
    carried = guest.read_answer(answer, nonce=milan().report_data)
    assert carried.problem == "" and carried.interface == "configfs-tsm (sev_guest)"


def test_a_guest_without_an_interface_says_so() -> None:
    fetched = guest.read_answer("noise\nsevtui-attest.none\n", nonce=bytes(64))
    assert (fetched.report, fetched.problem) == (None, guest.NO_INTERFACE)


def test_the_fetch_script_writes_the_nonce_as_bytes(tmp_path: Path) -> None:
    """The script's printf writes exactly the nonce, and it never waits on stdin."""
    nonce = bytes(range(256))[-64:]
    script = guest.fetch_script(nonce).replace("/sys/kernel/config/tsm/report", str(tmp_path))
    keep = "rmdir() { :; }; rm() { :; }; sleep() { :; }; "
    stdin, never_closed = os.pipe()  # a console that never sends EOF: reading it would hang
    try:
        done = subprocess.run(
            ["sh", "-c", keep + script],
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    finally:
        os.close(stdin)
        os.close(never_closed)
    assert "sevtui-attest.interface=configfs-tsm" in done.stdout
    [entry] = tmp_path.iterdir()
    assert (entry / "inblob").read_bytes() == nonce


def test_the_expected_measurement_is_sev_snp_measures_for_the_launched_inputs(
    tmp_path: Path,
) -> None:
    """What sevtui computes from a launch argv equals the sev-snp-measure CLI's answer."""
    firmware = CACHE / "usr/share/ovmf/OVMF.amdsev.fd"
    if not firmware.is_file():
        pytest.skip("no OVMF.amdsev.fd: `make upstream-qemu` unpacks it")
    kernel, initrd = tmp_path / "vmlinuz", tmp_path / "initrd"
    kernel.write_bytes(b"kernel" * 1000)
    initrd.write_bytes(b"initrd" * 1000)
    append = "console=ttyS0 quiet panic=-1 sevtui.ready=abc"
    argv = ["qemu", "-cpu", "EPYC-v4,host-phys-bits=true", "-smp", "4", "-bios", str(firmware)]
    argv += ["-kernel", str(kernel), "-initrd", str(initrd), "-append", append]
    computed = expected(argv)
    reference = subprocess.run(
        [
            str(Path(sys.executable).parent / "sev-snp-measure"),
            "--mode=snp",
            "--vcpus=4",
            "--vcpu-type=EPYC-v4",
            f"--ovmf={firmware}",
            f"--kernel={kernel}",
            f"--initrd={initrd}",
            f"--append={append}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert computed.measurement == reference
    assert computed.inputs["vcpus"] == "4" and computed.inputs["vcpu_type"] == "EPYC-v4"


def test_a_host_cpu_model_cannot_predict_a_measurement() -> None:
    assert "has no fixed CPUID signature" in expected(["q", "-cpu", "host", "-bios", "/x"]).problem


def test_the_builtin_chains_are_amds() -> None:
    """The package ships the fixtures' ARK/ASK for all three products, unchanged."""
    for product in verify.PRODUCTS:
        chain = verify.builtin_chain(product)
        for key, cert in (("ark", chain.ark), ("ask", chain.ask)):
            source = FIXTURES / f"{product.lower()}-{key}.pem"
            assert cert == x509.load_pem_x509_certificate(source.read_bytes())


def test_vm_details_decode_the_policy_and_show_the_last_attestation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from contextlib import closing

    from sevtui.attest.service import Attestation
    from sevtui.attest.vms import as_row
    from sevtui.store.db import Store

    config = tmp_path / "config.toml"
    config.write_text(
        f'[paths]\ndata_dir = "{tmp_path / "d"}"\nstate_dir = "{tmp_path / "s"}"\n'
        '[vm.snp]\nkind = "sev-snp"\npolicy = "0x1B0133"\n'
    )
    outcome = Attestation(vm="snp", status="inconclusive", reasons=[guest.NO_INTERFACE])
    with closing(Store(tmp_path / "d/sevtui.db")) as store:
        store.record_attestation(as_row(outcome.to_json()))
    capsys.readouterr()
    assert main(["--config", str(config), "vm", "details", "snp", "--json"]) == 0
    provenance = json.loads(capsys.readouterr().out)["provenance"]
    assert provenance["policy"] == (
        "0x1b0133: ABI >= 1.51, SMT allowed, debug allowed, single socket only"
    )
    assert provenance["attestation"].startswith(f"inconclusive: {guest.NO_INTERFACE} (at ")
    assert main(["--config", str(config), "vm", "details", "nope"]) == 2


def test_a_vlek_signed_report_is_inconclusive_not_verified(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = bytearray(bytes.fromhex(REPORT_HEX.read_text()))
    raw[0x48] |= 1 << 2  # SIGNING_KEY = 1: VLEK
    path = tmp_path / "vlek.bin"
    path.write_bytes(bytes(raw))
    code, result = attest_json(capsys, "verify", str(path), "--vcek", str(VCEK))
    assert code == 1
    assert result["status"] == "inconclusive"
    assert result["reasons"] == [
        "the report is signed with a VLEK (a cloud provider's key): sevtui verifies "
        "VCEK-signed reports only"
    ]


def test_the_shipped_sample_verifies_without_hardware_or_network(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, result = attest_json(capsys, "verify", "--sample")
    assert code == 0 and result["verified"] is True
    report = result["report"]
    assert isinstance(report, dict) and report["measurement"] == MEASUREMENT
