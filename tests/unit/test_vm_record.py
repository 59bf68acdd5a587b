"""vm.json is read defensively: wrong types never crash `vm list`, `start` or `stop`."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from sevtui.config import parse_config
from sevtui.vm.lifecycle import VmRecord, status
from sevtui.vm.ref import lookup


def test_a_negative_or_mistyped_pid_means_no_process(tmp_path: Path) -> None:
    config = parse_config(f'[paths]\nstate_dir = "{tmp_path / "st"}"\n', tmp_path / "c.toml")
    folder = tmp_path / "st" / "vms" / "demo"
    folder.mkdir(parents=True, mode=0o700)
    for bad in (
        {"pid": -1},
        {"pid": "12"},
        {"pid": True, "create_time": "x"},
        ["not", "a", "dict"],
    ):
        (folder / "vm.json").write_text(json.dumps(bad))
        (folder / "vm.json").chmod(0o600)
        current = status(lookup(config, "demo"))
        assert current.pid is None and current.state in ("stopped", "crashed")


def test_the_record_round_trips() -> None:
    record = VmRecord("demo", "nosev", 42, 1.5, "/usr/bin/qemu", 41, 2.0, "tcg", "why", ["q"])
    assert VmRecord.from_json(record.to_json()) == record


def test_the_ready_marker_must_carry_this_boots_nonce(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sevtui.base.errors import SevtuiError
    from sevtui.vm import lifecycle
    from sevtui.vm.spec import DirectBoot, VmPaths, ready_marker

    folder = tmp_path / "demo"
    folder.mkdir(mode=0o700)
    paths = VmPaths(folder)
    boot = DirectBoot(Path("k"), Path("i")).with_ready_nonce("abc123")
    early = f"Kernel command line: {boot.append}\nSEVTUI-READY\nSEVTUI-READY-0ld\n"
    paths.serial_log.write_text(early)
    paths.serial_log.chmod(0o600)
    monkeypatch.setattr(lifecycle, "READY_WAIT_S", 0.5)
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        marker = ready_marker("abc123").encode()
        with pytest.raises(SevtuiError, match="did not print"):
            lifecycle._wait_for_ready(paths, sleeper, marker, time.monotonic(), print)
        with paths.serial_log.open("a") as log:
            log.write("sevtui guest: uptime 7.25\nSEVTUI-READY-abc123\n")
        phases = lifecycle._wait_for_ready(paths, sleeper, marker, time.monotonic(), print)
        assert phases["ready"] >= phases["console"] >= 0
        assert phases["guest_uptime"] == 7.25
        assert "kernel" not in phases
    finally:
        sleeper.kill()
        sleeper.wait()
