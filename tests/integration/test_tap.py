"""The network benchmark through a tap device, inside a network namespace this test
creates and removes: a multiqueue tap, with and without vhost-net, under TCG. No packet
leaves the namespace."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import sevtui

pytestmark = pytest.mark.slow

TAP = "svt0"
HOST_ADDRESS = "10.77.0.1/24"
GUEST_ADDRESS = "10.77.0.2/24"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@pytest.fixture
def namespace() -> Iterator[str]:
    """A network namespace holding a multiqueue tap device with the host's address."""
    if os.geteuid() != 0 or shutil.which("ip") is None or not Path("/dev/net/tun").exists():
        pytest.skip("a network namespace and a tap device need root, iproute2 and /dev/net/tun")
    name = f"sevtui-test-{os.getpid()}"
    ip("netns", "add", name)
    try:
        inside = ("netns", "exec", name, "ip")
        ip(*inside, "link", "set", "lo", "up")
        ip(*inside, "tuntap", "add", "dev", TAP, "mode", "tap", "multi_queue")
        ip(*inside, "addr", "add", HOST_ADDRESS, "dev", TAP)
        ip(*inside, "link", "set", TAP, "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, timeout=30)


@pytest.mark.timeout(900)
def test_net_quick_measures_through_a_multiqueue_tap_with_and_without_vhost(
    vm_config_file: Path, namespace: str
) -> None:
    config = vm_config_file
    config.write_text(
        config.read_text()
        + f'\n[vm.tapped]\nkind = "nosev"\nmemory = "256M"\nnetwork = "tap:{TAP}"\n'
        f'guest_address = "{GUEST_ADDRESS}"\nqueues = 2\n'
        '[suites]\nn = ["net-quick"]\n'
    )
    argv = [sys.executable, "-m", "sevtui", "--config", str(config), "bench", "sweep"]
    argv += ["--vm", "tapped", "--vary", "vhost=on,off", "--suite", "n", "--label", "tap"]
    done = subprocess.run(
        ["ip", "netns", "exec", namespace, *argv, "--repetitions", "1", "--warmup", "0"],
        capture_output=True,
        text=True,
        timeout=800,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    shown = json.loads(sevtui(config, "results", "show", "tap", "--json").stdout)
    info = shown["runs"][0]["target_info"]
    plain = info["tapped@vhost=off"]["nic"]
    assert (plain["backend"], plain["queues"], plain["vhost"]) == ("tap", 2, False)
    assert (plain["iperf3_host"], plain["iperf3_port"]) == ("10.77.0.2", 5201)
    metrics = {(m["target"], m["metric"]): m for m in shown["metrics"]}
    through = metrics[("tapped@vhost=off", "TCP host->guest 1 stream Gbit/s")]
    assert through["unit"] == "Gbit/s" and through["mean"] > 0
    assert metrics[("tapped@vhost=off", "TCP guest->host 1 stream RTT")]["unit"] == "ms"
    vhost = "tapped@vhost=on"
    if Path("/dev/vhost-net").exists():
        assert info[vhost]["nic"]["vhost"] is True
        assert metrics[(vhost, "TCP host->guest 1 stream Gbit/s")]["mean"] > 0
    else:
        (problem,) = [p for p in shown["problems"] if p["target"] == vhost]
        assert problem["status"] == "unavailable"
        assert "this host has no /dev/vhost-net" in problem["message"]
