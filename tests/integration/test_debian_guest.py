"""A real distribution guest end to end: the Debian image built here, prepared the seed's
way, booted through OVMF under TCG, cloud-init, then the quick suite over ssh against the
host. The image is cached under the shared image folder between runs."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sevtui.base.ports import free_port
from tests.conftest import IMAGES, sevtui

pytestmark = [pytest.mark.slow, pytest.mark.heavy]


@pytest.fixture
def debian_config() -> Iterator[Path]:
    """Two Debian VMs (nosev and the seed's SEV-SNP) and a bounded bench section."""
    root = Path(tempfile.mkdtemp(prefix="svd", dir="/tmp"))
    path = root / "config.toml"
    path.write_text(
        f"""
[paths]
data_dir = "{root / "data"}"
state_dir = "{root / "st"}"
image_dir = "{IMAGES}"
[qemu]
accel = "tcg"
[bench]
warmup = 0
max_repetitions = 3
[vm.debian]
kind = "nosev"
vcpus = 2
memory = "2G"
image = "cloud"
ssh_port = {free_port()}
[vm.debian-snp]
kind = "sev-snp"
vcpus = 2
memory = "2G"
image = "cloud"
ssh_port = {free_port()}
policy = "0x30000"
"""
    )
    yield path
    sevtui(path, "vm", "stop", "debian", "--kill", timeout=60)
    subprocess.run(["pkill", "-9", "-f", str(root)], check=False)
    shutil.rmtree(root, ignore_errors=True)


def step(config: Path, *args: str, timeout: float) -> tuple[str, float]:
    """Run one CLI step that must succeed; its output and how long it took."""
    started = time.monotonic()
    done = sevtui(config, *args, timeout=timeout)
    assert done.returncode == 0, f"{args}: {done.stderr[-3000:]}"
    return done.stdout, time.monotonic() - started


@pytest.mark.timeout(3600)
def test_debian_guest_from_image_build_to_a_comparison_with_the_host(debian_config: Path) -> None:
    timings: dict[str, float] = {}
    built, timings["image build"] = step(debian_config, "image", "build", "debian", timeout=2400)
    disk = IMAGES / "debian" / "disk.qcow2"
    assert str(disk) in built
    again, _ = step(debian_config, "image", "build", "debian", timeout=60)
    assert "debian image up to date" in again

    unprepared = sevtui(debian_config, "vm", "start", "debian")
    assert unprepared.returncode == 2 and "its disk is not prepared yet" in unprepared.stderr
    assert "sevtui image prepare-cloud" in unprepared.stderr
    prepare = ("image", "prepare-cloud", "--base", str(disk), "--vm", "debian")
    _, timings["prepare-cloud"] = step(debian_config, *prepare, timeout=600)
    replace = sevtui(debian_config, *prepare)
    assert replace.returncode == 2 and "--force" in replace.stderr, "a prepared disk is kept"

    snp = sevtui(debian_config, "vm", "start", "debian-snp")
    assert snp.returncode != 0
    assert "cannot start 'debian-snp': this host cannot run sev-snp guests" in snp.stderr

    started, timings["vm start"] = step(debian_config, "vm", "start", "debian", timeout=1000)
    assert "ready after" in started
    status, _ = step(
        debian_config, "vm", "exec", "debian", "--", "cloud-init", "status", timeout=120
    )
    assert "status: done" in status
    listing = ("vm", "exec", "debian", "--", "ls", "/usr/share/sevtui/sources")
    shipped, _ = step(debian_config, *listing, timeout=120)
    assert "lua5.4_5.4.4.orig.tar.gz" in shipped

    run = ("bench", "run", "--vm", "host", "--vm", "debian", "--suite", "quick", "--concurrent")
    _, timings["bench run"] = step(debian_config, *run, "--label", "deb", timeout=2400)
    compare = ("results", "compare", "deb", "--base", "host", "--other", "debian", "--json")
    table = json.loads(step(debian_config, *compare, timeout=120)[0])
    rows = {row["benchmark"]: row for row in table["benchmarks"]}
    for bench_id in ("build-quick", "fio-quick", "lz4-compress-quick", "redis-quick"):
        row = rows[bench_id]
        # Three repetitions a side: Fieller's interval exists unless the host's spread
        # (a busy 2-core machine) leaves its mean not significantly above zero; then the
        # reason says so.
        assert row["overhead_pct"] is not None and (row["overhead_ci95"] or row["reason"]), row
    shown = json.loads(step(debian_config, "results", "show", "deb", "--json", timeout=120)[0])
    (stored,) = shown["runs"]
    assert stored["status"] == "done", stored["reason"]
    assert stored["provenance"]["sources"]["build-quick"]["sha256"].startswith("164c7849")
    assert stored["target_info"]["debian"]["work_media"] == "disk"
    assert stored["target_info"]["debian"]["guest_word"]["confirmed_mode"] == "none"
    firmware = stored["target_info"]["debian"]["firmware_file"]
    assert firmware["package"] == "ovmf" and firmware["package_version"]
    assert len(firmware["sha256"]) == 64 and firmware["descriptor"].endswith(".json")
    assert stored["provenance"]["platform"]["memory_bytes"] > 0
    counts = {(m["target"], m["benchmark"]) for m in shown["metrics"] if m["n"] == 3}
    assert ("debian", "build-quick") in counts and ("debian", "fio-quick") in counts
    # The NIC and VM exits too: iperf3 and sevtui-exits are in the image.
    measured = {(m["target"], m["metric"]): m for m in shown["metrics"]}
    assert measured[("debian", "TCP host->guest 1 stream Gbit/s")]["mean"] > 0
    assert measured[("debian", "cpuid ns")]["unit"] == "ns"
    # The host cannot boot: nothing to compare the guest's boot time with, so it is
    # measured once, not three times.
    once = {(m["target"], m["benchmark"]) for m in shown["metrics"] if m["n"] == 1}
    assert ("debian", "boot") in once
    print("debian guest timings (s):", {k: round(v, 1) for k, v in timings.items()})
