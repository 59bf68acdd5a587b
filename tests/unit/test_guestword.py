"""Each guest's own word on its memory encryption, and profiles it does not confirm."""

from __future__ import annotations

import json
import subprocess
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from sevtui.bench import guestword
from sevtui.bench.facts import run_facts
from sevtui.bench.guestword import parse
from sevtui.cli.commands import main
from sevtui.store.db import Store
from sevtui.tui.results import profile_label
from tests.sysroots import DATA


def run_script(tmp_path: Path, dmesg: str) -> guestword.GuestWord:
    """The real script in a real shell, with a stand-in `dmesg` first on PATH, and a
    `sudo` that refuses, so the script never reaches this machine's own kernel log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (("dmesg", dmesg), ("sudo", "exit 1")):
        fake = bin_dir / name
        fake.write_text(f"#!/bin/sh\n{body}\n")
        fake.chmod(0o755)
    done = subprocess.run(
        ["sh", "-c", guestword.SCRIPT],
        capture_output=True,
        text=True,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
        check=True,
    )
    return parse(done.stdout)


def test_the_seeds_snp_guest_confirms_snp_from_its_kernel_line(tmp_path: Path) -> None:
    word = run_script(tmp_path, f"cat {DATA / 'seed-snp-guest-dmesg.txt'}")
    assert word.active == "AMD SEV SEV-ES SEV-SNP"
    assert word.confirmed() == (
        "sev-snp",
        "guest kernel: Memory Encryption Features active: AMD SEV SEV-ES SEV-SNP",
    )


def test_a_normal_guests_boot_log_confirms_none(tmp_path: Path) -> None:
    word = run_script(tmp_path, "echo '[    0.0] Linux version 6.1.0-18-amd64'")
    if word.cpu_flags:
        pytest.skip("this machine's own CPU flags list SEV; the script reads /proc/cpuinfo")
    assert word.confirmed()[0] == "none"


def test_an_unreadable_kernel_log_is_inconclusive(tmp_path: Path) -> None:
    word = run_script(tmp_path, "echo 'dmesg: read kernel buffer failed' >&2; exit 1")
    if word.cpu_flags:
        pytest.skip("this machine's own CPU flags list SEV; the script reads /proc/cpuinfo")
    assert word.confirmed() == (
        "inconclusive",
        "the guest's kernel log could not be read (dmesg)",
    )


@pytest.mark.parametrize(
    ("output", "mode"),
    [
        ("sevtui-word.active=AMD SEV\nsevtui-word.boot=1\nsevtui-word.log_lines=9", "sev"),
        ("sevtui-word.active=AMD SEV SEV-ES\nsevtui-word.log_lines=9", "sev-es"),
        ("sevtui-word.flags=sev sev_es sev_snp \nsevtui-word.log_lines=3", "sev-snp"),
        ("sevtui-word.log_lines=40\nsevtui-word.boot=0", "inconclusive"),
        ("sevtui-word.active=Intel TDX\nsevtui-word.log_lines=9", "tdx"),
        ("sevtui-word.flags=tdx_guest \nsevtui-word.log_lines=3", "tdx"),
        ("sevtui-word.tdx_detected=1\nsevtui-word.log_lines=3\nsevtui-word.boot=1", "tdx"),
        ("sevtui-word.active=Hygon CSV\nsevtui-word.log_lines=9", "none"),
    ],
)
def test_modes_from_each_kind_of_evidence(output: str, mode: str) -> None:
    assert parse(output).confirmed()[0] == mode


@pytest.mark.parametrize(
    "log", sorted(p.name for p in (DATA / "kernel-logs").glob("tdx-guest-*.txt"))
)
def test_real_td_guests_confirm_tdx(log: str, tmp_path: Path) -> None:
    word = run_script(tmp_path, f"grep -v '^#' {DATA / 'kernel-logs' / log}")
    assert word.confirmed()[0] == "tdx", word


def test_attestation_interfaces_are_recorded() -> None:
    word = parse("sevtui-word.sev_guest=1\nsevtui-word.tsm=1\nnoise")
    stored = word.to_json()
    assert stored["dev_sev_guest"] is True and stored["configfs_tsm_report"] is True
    assert stored["dev_tdx_guest"] is False
    assert parse("sevtui-word.tdx_guest=1").to_json()["dev_tdx_guest"] is True


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    db = tmp_path / "r.db"
    for folder, profile in (("sev", "sev-snp"), ("nosev", "nosev")):
        files = map(str, sorted((DATA / "seed" / folder).iterdir()))
        assert (
            main(["--db", str(db), "import", *files, "--label", "seed", "--profile", profile]) == 0
        )
    return db


def confirm(db: Path, target: str, kind: str, output: str, attested: str | None = None) -> None:
    with closing(Store(db)) as store:
        [run_id] = [run.id for run in store.runs() if target in run.targets]
        info: dict[str, Any] = {"kind": kind, "guest_word": parse(output).to_json()}
        if attested is not None:
            info["attestation"] = {"status": attested, "reasons": []}
        store.set_target(run_id, target, "vm", info)


def compare(db: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    capsys.readouterr()
    code = main(["--db", str(db), "results", "compare", "seed", *extra])
    assert code == 0
    return capsys.readouterr().out


def test_an_snp_profile_whose_guest_said_none_is_unconfirmed(
    seeded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    confirm(seeded, "sev-snp", "sev-snp", "sevtui-word.log_lines=9\nsevtui-word.boot=1")
    confirm(seeded, "nosev", "nosev", "sevtui-word.log_lines=9\nsevtui-word.boot=1")
    table: dict[str, Any] = json.loads(
        compare(seeded, capsys, "--base", "nosev", "--other", "sev-snp", "--json")
    )
    assert table["modes"]["sev-snp"] == {
        "configured_mode": "sev-snp",
        "confirmed_mode": "none",
        "attested": None,
        "unconfirmed": True,
        "reason": "the guest kernel's boot log has no 'Memory Encryption Features' line",
    }
    assert table["modes"]["nosev"]["unconfirmed"] is False
    assert any("unconfirmed" in warning for warning in table["warnings"])
    text = compare(seeded, capsys, "--base", "nosev", "--other", "sev-snp")
    assert "mode sev-snp: configured sev-snp, guest confirmed none  UNCONFIRMED" in text
    assert "sev-snp (UNCONFIRMED mode) vs nosev" in text


def test_a_confirmed_snp_profile_is_not_marked(
    seeded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    confirm(seeded, "sev-snp", "sev-snp", "sevtui-word.active=AMD SEV SEV-ES SEV-SNP")
    table = json.loads(compare(seeded, capsys, "--base", "nosev", "--other", "sev-snp", "--json"))
    assert table["modes"]["sev-snp"]["unconfirmed"] is False
    assert table["modes"]["nosev"] is None


def test_an_snp_guest_that_says_snp_but_failed_attestation_is_unconfirmed(
    seeded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snp_line = "sevtui-word.active=AMD SEV SEV-ES SEV-SNP"
    confirm(seeded, "sev-snp", "sev-snp", snp_line, attested="failed")
    table = json.loads(compare(seeded, capsys, "--base", "nosev", "--other", "sev-snp", "--json"))
    assert table["modes"]["sev-snp"]["confirmed_mode"] == "sev-snp"
    assert table["modes"]["sev-snp"]["attested"] == "failed"
    assert table["modes"]["sev-snp"]["unconfirmed"] is True
    confirm(seeded, "sev-snp", "sev-snp", snp_line, attested="verified")
    table = json.loads(compare(seeded, capsys, "--base", "nosev", "--other", "sev-snp", "--json"))
    assert table["modes"]["sev-snp"]["unconfirmed"] is False


def test_the_apps_column_title_marks_an_unconfirmed_profile(seeded: Path) -> None:
    from sevtui.bench.results import build_comparisons

    confirm(seeded, "sev-snp", "sev-snp", "sevtui-word.log_lines=0")
    with closing(Store(seeded)) as store:
        run_ids = store.resolve("seed")
        series, facts = store.series(run_ids), run_facts(store, run_ids)
    [table] = build_comparisons(series, "nosev", ["sev-snp"], 3.5, facts=facts).tables
    assert profile_label(table, "sev-snp") == "sev-snp (unconfirmed)"
    assert profile_label(table, "nosev") == "nosev"


def test_a_tdx_profile_whose_guest_said_none_is_unconfirmed(
    seeded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    confirm(seeded, "sev-snp", "tdx", "sevtui-word.log_lines=9\nsevtui-word.boot=1")
    table: dict[str, Any] = json.loads(
        compare(seeded, capsys, "--base", "nosev", "--other", "sev-snp", "--json")
    )
    mode = table["modes"]["sev-snp"]
    assert (mode["configured_mode"], mode["confirmed_mode"]) == ("tdx", "none")
    assert mode["unconfirmed"] is True
    confirm(seeded, "sev-snp", "tdx", "sevtui-word.active=Intel TDX\nsevtui-word.log_lines=9")
    table = json.loads(compare(seeded, capsys, "--base", "nosev", "--other", "sev-snp", "--json"))
    assert table["modes"]["sev-snp"]["unconfirmed"] is False
