"""vm.json is read defensively: wrong types never crash `vm list`, `start` or `stop`."""

from __future__ import annotations

import json
from pathlib import Path

from sevtui.config import parse_config
from sevtui.vm.lifecycle import VmRecord, status


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
        current = status(config, "demo")
        assert current.pid is None and current.state in ("stopped", "crashed")


def test_the_record_round_trips() -> None:
    record = VmRecord("demo", "nosev", 42, 1.5, "/usr/bin/qemu", 41, 2.0, "tcg", "why", ["q"])
    assert VmRecord.from_json(record.to_json()) == record
