"""Attestation from running guests: the demo guest (no interface) and a stand-in configfs-tsm.

The stand-in is test-only: a second cpio archive appended to the demo guest's initramfs
holds the Milan fixture report and a loop that answers every report request under a
tmpfs /sys/kernel/config/tsm/report with it, whatever nonce was written. Its report_data
can never be the fresh nonce, so sevtui must reject it as replayed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sevtui.attest.guest import NO_INTERFACE, REPLAYED
from sevtui.image.minimal import MinimalImage
from tests.conftest import sevtui
from tests.sysroots import DATA

pytestmark = pytest.mark.slow

MEASUREMENT = (
    "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d"
    "3e1a0dc39b2c60bd95b9c480cd81841f"
)
FAKE_TSM = """#!/bin/sh
# Test-only stand-in for configfs-tsm: answers every request with a recorded report.
mount -t tmpfs fake-tsm /sys/kernel || exit 1
mkdir -p /sys/kernel/config/tsm/report
(
  while true; do
    for entry in /sys/kernel/config/tsm/report/*; do
      if [ -f "$entry/inblob" ] && [ ! -f "$entry/outblob" ]; then
        echo sev_guest > "$entry/provider"
        cp /sevtui-fake-tsm/report.bin "$entry/.outblob" && mv "$entry/.outblob" "$entry/outblob"
      fi
    done
    sleep 0.1
  done
) </dev/null >/dev/null 2>&1 &
echo fake-tsm-up
"""


def test_the_demo_guest_has_no_attestation_interface(vm_config_file: Path) -> None:
    assert sevtui(vm_config_file, "vm", "start", "demo").returncode == 0
    done = sevtui(vm_config_file, "attest", "demo", "--json")
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "inconclusive" and result["verified"] is False
    assert result["reasons"] == [NO_INTERFACE]
    text = sevtui(vm_config_file, "attest", "demo")
    assert "attestation of VM demo: INCONCLUSIVE" in text.stdout
    assert "Traceback" not in text.stderr


def test_a_stopped_vm_cannot_be_attested(vm_config_file: Path) -> None:
    done = sevtui(vm_config_file, "attest", "demo")
    assert done.returncode == 2
    assert "VM 'demo' is not running" in done.stderr


@pytest.fixture
def fake_tsm_config(
    minimal_image: MinimalImage, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """A config whose demo guest boots an initramfs with the stand-in appended."""
    root = tmp_path_factory.mktemp("tsm")
    images = root / "images" / "minimal"
    images.mkdir(parents=True)
    shutil.copyfile(minimal_image.kernel, images / "vmlinuz")
    extra = root / "extra" / "sevtui-fake-tsm"
    extra.mkdir(parents=True)
    report = bytes.fromhex((DATA / "snp-attestation/report_milan.hex").read_text())
    (extra / "report.bin").write_bytes(report)
    (extra / "start").write_text(FAKE_TSM)
    (extra / "start").chmod(0o755)
    members = b"sevtui-fake-tsm\nsevtui-fake-tsm/report.bin\nsevtui-fake-tsm/start\n"
    archive = subprocess.run(
        ["cpio", "-o", "-H", "newc", "--quiet"],
        input=members,
        cwd=extra.parent,
        capture_output=True,
        check=True,
    ).stdout
    (images / "initrd.img").write_bytes(minimal_image.initrd.read_bytes() + archive)
    config = root / "config.toml"
    config.write_text(
        f'[paths]\ndata_dir = "{root / "data"}"\nstate_dir = "{root / "st"}"\n'
        f'image_dir = "{root / "images"}"\n[qemu]\naccel = "tcg"\n'
        '[vm.demo]\nkind = "nosev"\nmemory = "256M"\n'
        '[benchmark.true]\ncommand = "true"\n[suites]\ntiny = ["true"]\n'
    )
    yield config
    subprocess.run(["pkill", "-9", "-f", str(root)], check=False)


def test_a_replayed_report_is_rejected_live_and_in_a_run(fake_tsm_config: Path) -> None:
    config = fake_tsm_config
    assert sevtui(config, "vm", "start", "demo").returncode == 0
    up = sevtui(config, "vm", "exec", "demo", "--", "sh", "/sevtui-fake-tsm/start")
    assert "fake-tsm-up" in up.stdout, up.stdout + up.stderr

    done = sevtui(config, "attest", "demo", "--json")
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "failed"
    assert result["reasons"] == [REPLAYED]
    assert result["interface"] == "configfs-tsm (sev_guest)"
    assert result["report"]["measurement"] == MEASUREMENT

    run = sevtui(
        config, "bench", "run", "--vm", "demo", "--suite", "tiny", "--label", "t", timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    shown = json.loads(sevtui(config, "results", "show", "t", "--json").stdout)
    attestation = shown["runs"][0]["target_info"]["demo"]["attestation"]
    assert attestation["status"] == "failed"
    assert attestation["reasons"] == [REPLAYED]
