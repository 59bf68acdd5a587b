"""The command line: help everywhere, caps on this machine and on replays, exit codes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sevtui.cli.commands import HANDLERS, main
from sevtui.cli.parser import build_parser
from tests.sysroots import DATA, seed_host

REPO = Path(__file__).resolve().parents[2]


def all_command_paths() -> list[list[str]]:
    paths: list[list[str]] = []

    def walk(parser: object, prefix: list[str]) -> None:
        for action in getattr(parser, "_actions", []):
            choices = getattr(action, "choices", None)
            if isinstance(choices, dict):
                for name, sub in choices.items():
                    paths.append([*prefix, name])
                    walk(sub, [*prefix, name])

    walk(build_parser(), [])
    return paths


@pytest.mark.parametrize("path", all_command_paths(), ids=" ".join)
def test_every_command_has_help(path: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([*path, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: sevtui {' '.join(path)}" in out
    assert len(out.splitlines()) > 3


def test_python_dash_m_works() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sevtui", "--version"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and done.stdout.startswith("sevtui ")


def test_caps_replays_a_sysroot_as_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = seed_host().build(tmp_path / "root")
    code = main(["--config", str(REPO / "config.toml"), "caps", "--json", "--sysroot", str(root)])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert data["profiles"]["sev-snp"]["launchable"] is True
    assert data["vms"]["sev-snp"]["launchable"] is True
    assert data["cpuid_8000001f"]["cbitpos"] == 51


def test_caps_cpuid_file_decodes_the_dump(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = seed_host().build(tmp_path / "root")
    dump = DATA / "cpuid/epyc-older-tool-decoded.txt"
    main(["caps", "--json", "--sysroot", str(root), "--cpuid-file", str(dump)])
    leaf = json.loads(capsys.readouterr().out)["cpuid_8000001f"]
    assert leaf["vmpl"] is False and leaf["sev_snp"] is True and leaf["min_sev_asid"] == 128


def test_caps_require_exits_1_when_kind_cannot_launch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    machine = seed_host()
    machine.kvm_amd = {"sev": "1", "sev_es": "1", "sev_snp": "0"}
    root = machine.build(tmp_path / "root")
    assert main(["caps", "--sysroot", str(root), "--require", "sev-snp"]) == 1
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("sev-snp: cannot launch here: ")
    assert "kvm_amd" in out
    assert main(["caps", "--sysroot", str(root), "--require", "sev-es"]) == 0
    assert capsys.readouterr().out.startswith("sev-es: can launch here")
    assert main(["caps", "--sysroot", str(root), "--require", "sev-snp", "-q"]) == 1
    assert capsys.readouterr().out == ""
    assert main(["caps", "--sysroot", str(root)]) == 0
    out = capsys.readouterr().out
    assert "SEV-SNP enabled in kvm_amd" in out and "fix: set `options kvm_amd sev_snp=1`" in out


def test_caps_bad_cpuid_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dump = tmp_path / "dump.txt"
    dump.write_text("nothing useful")
    assert main(["caps", "--cpuid-file", str(dump)]) == 2
    err = capsys.readouterr().err
    assert "no CPUID leaf 0x8000001F found" in err and "hint:" in err
    assert main(["caps", "--cpuid-file", str(tmp_path / "missing.txt")]) == 1
    assert "cannot read CPUID dump" in capsys.readouterr().err


def test_caps_on_this_machine_prints_what_it_read_and_names_the_accel(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Whatever this machine is (Intel or AMD, bare metal or a VM), caps says what it read."""
    from sevtui.config import load_config
    from sevtui.host.inspect import inspect_host

    code = main(["--config", str(REPO / "config.toml"), "caps"])
    out = capsys.readouterr().out
    assert code == 0
    report = inspect_host(load_config(REPO / "config.toml").config)
    assert f"verdict: {report.verdict}" in out
    assert f": {report.model} ({report.vendor})" in out
    assert "accel: " in out
    assert re.search(r"^  demo +nosev +launchable: runs under (KVM|TCG)", out, re.M)
    snp = "launchable" if report.profiles["sev-snp"].launchable else "cannot launch"
    assert re.search(rf"^  sev-snp +sev-snp +{snp}: ", out, re.M)


def test_every_command_has_a_handler_and_every_handler_a_command() -> None:
    groups = {"config", "vm", "image", "results", "bench", "fleet"}
    commands = {" ".join(path) for path in all_command_paths()} - groups
    assert commands == set(HANDLERS)


def test_caps_prints_each_check_under_its_own_parent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sevtui.cli.text import tree_order
    from sevtui.host.caps import assess
    from sevtui.host.facts import gather

    report = assess(gather(seed_host().build(tmp_path / "root")), None, None)
    ordered = tree_order(report)
    assert sorted(c.id for c in ordered) == sorted(c.id for c in report.checks)
    for index, check in enumerate(ordered):
        if check.parent is not None:
            above = [c for c in ordered[:index] if report.depth(c) < report.depth(check)]
            assert above[-1].id == check.parent, f"{check.id} printed under {above[-1].id}"
