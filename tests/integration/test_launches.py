"""Launches as the unit of replication, for real: the demo guest booted twice in one run
under TCG, each repetition stored with its launch, place in the order and QEMU PID."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import sevtui
from tests.integration.test_sweep import with_spin

pytestmark = pytest.mark.slow


@pytest.mark.timeout(600)
def test_two_launches_of_a_guest_are_two_qemu_processes(vm_config_file: Path) -> None:
    config = with_spin(vm_config_file)
    args = ["bench", "run", "--vm", "host", "--vm", "demo", "--suite", "spin"]
    args += ["--repetitions", "2", "--launches", "2", "--warmup", "0", "--seed", "5"]
    done = sevtui(config, *args, "--label", "two", timeout=540)
    assert done.returncode == 0, done.stderr[-3000:]
    shown = json.loads(sevtui(config, "results", "show", "two", "--json").stdout)
    run = shown["runs"][0]
    assert run["provenance"]["design"]["seed"] == 5
    assert run["provenance"]["design"]["launches"] == 2
    measured = [r for r in shown["repetitions"] if r["repetition"] > 0]
    demo = [r for r in measured if r["target"] == "demo"]
    assert sorted((r["repetition"], r["launch"]) for r in demo) == [(1, 1), (2, 1), (3, 2), (4, 2)]
    pids = {r["launch"]: r["qemu_pid"] for r in demo}
    assert len({pids[1], pids[2]}) == 2 and None not in pids.values()
    assert all(r["position"] in (0, 1) for r in measured)
    assert all(r["qemu_pid"] is None for r in measured if r["target"] == "host")
    metric = next(m for m in shown["metrics"] if m["target"] == "demo")
    assert [x["launch"] for x in metric["launch_means"]] == [1, 2]
    compared = sevtui(config, "results", "compare", "two", "--base", "host", "--other", "demo")
    assert compared.returncode == 0, compared.stderr
    assert "n=2/2 launches, between launches" in compared.stdout
    listed = sevtui(config, "vm", "list", "--json")
    own = [r for r in json.loads(listed.stdout) if r["name"] == "demo" and not r["external"]]
    assert own and all(row["state"] != "running" for row in own), (
        "the run stopped what it booted (QEMUs of other runs on this machine are external)"
    )
