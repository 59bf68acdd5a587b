"""The shipped playbook with an inventory host whose name would step out of the
controller's folder: that host fails its first task, alone, and nothing is written
outside DATA_DIR/fleet (a local connection, so no ssh is needed)."""

from __future__ import annotations

import json
import secrets
import stat
from pathlib import Path

import pytest

from tests.conftest import sevtui

pytestmark = pytest.mark.slow


@pytest.mark.timeout(600)
def test_an_inventory_name_with_a_path_fails_alone_and_writes_nothing_outside(
    tmp_path: Path,
) -> None:
    escape = Path("/tmp") / f"sevtui-escape-{secrets.token_hex(4)}"
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(f"../../../../../../../..{escape} ansible_connection=local\n")
    config = tmp_path / "config.toml"
    config.write_text(f'[paths]\ndata_dir = "{tmp_path / "data"}"\n')
    done = sevtui(config, "fleet", "caps", "--inventory", str(inventory), "--json", timeout=540)
    assert done.returncode == 1, done.stderr[-2000:]
    (row,) = json.loads(done.stdout)
    assert row["status"] == "failed"
    assert "cannot name a file on the controller" in row["reason"]
    assert not Path(f"{escape}.caps.json").exists()
    fetched = tmp_path / "data" / "fleet" / "caps"
    assert stat.S_IMODE(fetched.stat().st_mode) == 0o700
    assert stat.S_IMODE((fetched / "config.toml").stat().st_mode) == 0o600
