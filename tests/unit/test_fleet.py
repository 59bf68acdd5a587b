"""The fleet's controller side without Ansible: capability rows, progress from
ansible-runner's events, the status file the app reads, the missing-extra message."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from sevtui.base.errors import SevtuiError
from sevtui.fleet.run import (
    PLAYBOOK,
    FleetStatus,
    HostOutcome,
    HostProgress,
    _collect,
    _EventHandler,
    _message,
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
    assert row["tdx"] == "no", "an AMD host runs no TDs; its why-not stays SEV's"
    empty = HostOutcome("gone", status="unreachable", reason="ssh: connection refused").row()
    assert (empty["cpu"], empty["sev-snp"], empty["status"]) == ("", "no", "unreachable")


def intel_caps(tdx: dict[str, Any]) -> dict[str, Any]:
    """A TDX host's `caps --json` as a fleet host sends it."""
    firmware = {"id": "firmware.tdx", "evidence": "disk: /usr/share/ovmf/OVMF.inteltdx.ms.fd"}
    return {
        "caps": {
            "cpu": {"vendor": "GenuineIntel", "model": "Intel(R) Xeon(R) Platinum 8480C"},
            "checks": [firmware],
            "profiles": {
                "sev-snp": {"launchable": False, "reason": "AMD processor: GenuineIntel"},
                "tdx": tdx,
            },
        }
    }


def test_an_intel_tdx_host_sits_beside_the_amd_ones() -> None:
    row = HostOutcome("spr-a", caps=intel_caps({"launchable": True, "reason": "ok"})).row()
    assert (row["sev-snp"], row["tdx"], row["why_not"]) == ("no", "yes", "")
    assert row["firmware"] == "disk: /usr/share/ovmf/OVMF.inteltdx.ms.fd"
    blocked = {"launchable": False, "reason": "TDX: module not initialized"}
    assert HostOutcome("spr-b", caps=intel_caps(blocked)).row()["why_not"] == blocked["reason"]


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


def test_a_hosts_malformed_report_fails_that_host_alone(tmp_path: Path) -> None:
    fetch = tmp_path / "caps"
    fetch.mkdir(mode=0o700)
    (fetch / "odd.caps.json").write_text(json.dumps({"caps": {"cpu": "x", "profiles": []}}))
    (fetch / "broken.caps.json").write_text("{not json")
    (fetch / "listed.caps.json").write_text("[1, 2]")
    (fetch / "good.caps.json").write_text(json.dumps(CAPS))
    for name in ("odd", "broken", "listed", "good"):
        (fetch / f"{name}.caps.json").chmod(0o600)
    outcomes = {name: HostOutcome(name) for name in ("odd", "broken", "listed", "good")}
    for outcome in outcomes.values():
        _collect(outcome, fetch, "caps")
    assert outcomes["odd"].status == "ok" and outcomes["odd"].row()["cpu"] == ""
    assert outcomes["broken"].status == "failed"
    assert "capability report is not JSON" in outcomes["broken"].reason
    assert outcomes["listed"].reason == "its capability report is not a JSON object"
    assert outcomes["good"].row()["cpu"] == "AMD EPYC 7713P 64-Core Processor"
    status = FleetStatus(tmp_path / "fleet", "caps")
    status.step(HostProgress("odd", "Ask sevtui"))
    status.finish(list(outcomes.values()))
    hosts = {host["host"]: host for host in read_status(tmp_path / "fleet")}
    assert hosts["odd"]["status"] == "ok", "the host is no longer shown as working"


def test_an_inventory_name_that_leaves_the_folder_fails_alone(tmp_path: Path) -> None:
    fetch = tmp_path / "fleet" / "caps"
    fetch.mkdir(parents=True, mode=0o700)
    for name in ("../../../tmp/x", ".hidden", "a/b"):
        outcome = HostOutcome(name)
        _collect(outcome, fetch, "run")
        assert outcome.status == "failed", name
        assert "inventory host name" in outcome.reason
        assert outcome.database is None


def test_a_loops_failure_names_the_item_not_all_items_completed() -> None:
    result = {
        "msg": "All items completed",
        "results": [
            {"item": "a", "changed": False},
            {"item": "b", "unreachable": True, "msg": "Failed to connect: port 22 refused"},
        ],
    }
    assert _message(result) == "Failed to connect: port 22 refused"
