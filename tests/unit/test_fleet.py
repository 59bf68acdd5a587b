"""The fleet's controller side without Ansible: capability rows, progress from
ansible-runner's events, the status file the app reads, the missing-extra message."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from sevtui.errors import SevtuiError
from sevtui.fleet import (
    PLAYBOOK,
    FleetStatus,
    HostOutcome,
    HostProgress,
    _EventHandler,
    ansible_runner,
    read_status,
)

CAPS = {
    "caps": {
        "cpu": {"vendor": "AuthenticAMD", "model": "AMD EPYC 7713P 64-Core Processor"},
        "checks": [
            {
                "id": "qemu.binary",
                "evidence": "/usr/bin/qemu-system-x86_64: QEMU emulator version 9.2.0",
            },
            {"id": "firmware.sev-snp", "evidence": "/usr/share/ovmf/OVMF.amdsev.fd"},
        ],
        "profiles": {
            "nosev": {"launchable": True, "reason": "KVM"},
            "sev": {"launchable": True, "reason": "ok"},
            "sev-es": {"launchable": True, "reason": "ok"},
            "sev-snp": {"launchable": False, "reason": "SEV-SNP: kvm_amd sev_snp=0"},
        },
    },
    "kernel": "6.8.0-40-generic",
    "microcode": "0xa0011d5",
}


def test_a_capability_row_names_what_runs_and_why_not() -> None:
    row = HostOutcome("milan-a", caps=CAPS).row()
    assert row["cpu"] == "AMD EPYC 7713P 64-Core Processor"
    assert row["qemu"] == "QEMU emulator version 9.2.0"
    assert row["firmware"] == "/usr/share/ovmf/OVMF.amdsev.fd"
    assert (row["sev"], row["sev-es"], row["sev-snp"]) == ("yes", "yes", "no")
    assert row["why_not"] == "SEV-SNP: kvm_amd sev_snp=0"
    assert (row["kernel"], row["microcode"]) == ("6.8.0-40-generic", "0xa0011d5")
    empty = HostOutcome("gone", status="unreachable", reason="ssh: connection refused").row()
    assert (empty["cpu"], empty["sev-snp"], empty["status"]) == ("", "no", "unreachable")


def test_runner_events_become_progress_lines_and_outcomes() -> None:
    lines: list[str] = []
    outcomes: dict[str, HostOutcome] = {}
    handler = _EventHandler(outcomes, lambda step: lines.append(step.line()))
    last = json.dumps({"event": "BenchmarkStarted", "benchmark": "fio-quick", "repetition": 2})
    events = [
        {"event": "runner_on_start", "event_data": {"host": "milan-a", "task": "Install"}},
        {"event": "runner_retry", "event_data": {"host": "milan-a", "res": {"stdout": last}}},
        {"event": "runner_retry", "event_data": {"host": "milan-a", "res": {"stdout": ""}}},
        {
            "event": "runner_on_unreachable",
            "event_data": {"host": "genoa-b", "task": "Follow", "res": {"msg": "ssh:\n refused"}},
        },
        {
            "event": "runner_on_failed",
            "event_data": {"host": "milan-a", "task": "Probe", "ignore_errors": True, "res": {}},
        },
        {"event": "playbook_on_stats", "event_data": {}},
    ]
    for event in events:
        assert handler(event) is True
    assert lines == [
        "milan-a  Install",
        "milan-a  bench  fio-quick  repetition 2",
        "milan-a  bench  starting",
        "genoa-b  unreachable  ssh: refused",
    ]
    assert outcomes["genoa-b"].status == "unreachable"
    assert outcomes["milan-a"].status == "ok", "an ignored failure fails nothing"


def test_the_status_file_follows_a_fleet_command(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "fleet"
    assert read_status(folder) == []
    status = FleetStatus(folder, "run")
    status.step(HostProgress("milan-a", "bench", "lz4-compress-quick", 1))
    (host,) = read_status(folder)
    assert host == {
        "host": "milan-a",
        "progress": "bench  lz4-compress-quick  repetition 1",
        "status": "working",
    }
    status.finish([HostOutcome("milan-a", caps=CAPS)])
    (host,) = read_status(folder)
    assert host["status"] == "ok" and host["sev-snp"] == "no"
    assert folder.stat().st_mode & 0o777 == 0o700
    (folder / "status.json").write_text("{not json")
    assert read_status(folder) == []


def test_without_ansible_the_fleet_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "ansible_runner", None)
    with pytest.raises(SevtuiError, match="needs Ansible") as caught:
        ansible_runner()
    assert caught.value.hint == "pip install 'sevtui[fleet]' (ansible-core and ansible-runner)"


def test_the_playbook_ships_inside_the_package() -> None:
    assert PLAYBOOK.is_file()
    role = PLAYBOOK.parent / "roles" / "sevtui" / "tasks"
    assert {path.name for path in role.iterdir()} == {
        "main.yml",
        "install.yml",
        "caps.yml",
        "run.yml",
    }
    deploy = Path(__file__).resolve().parents[2] / "deploy" / "ansible" / "playbook.yml"
    assert deploy.read_text() == PLAYBOOK.read_text()
