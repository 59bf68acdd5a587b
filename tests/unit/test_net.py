"""The network benchmark: iperf3's JSON results read back, and the host-side client
wired to the target's forwarded port."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sevtui.bench.catalog import build_catalog
from sevtui.bench.parsers import ParseError, parse_iperf3_json
from tests.sysroots import DATA

RECORDED = DATA / "iperf3"


def recorded(name: str) -> str:
    return (RECORDED / name).read_text()


def test_several_runs_in_one_output_are_told_apart_by_their_own_test_start() -> None:
    names = ("tcp-host-to-guest.json", "tcp-2-streams-reverse.json", "udp-50M.json")
    values = {v.metric: v for v in parse_iperf3_json("".join(recorded(n) for n in names))}
    tcp, reverse, udp = (json.loads(recorded(n))["end"] for n in names)
    assert set(values) == {
        "TCP host->guest 1 stream Gbit/s",
        "TCP guest->host 2 streams Gbit/s",
        "UDP host->guest Gbit/s",
        "UDP host->guest jitter",
        "UDP host->guest loss",
    }
    one = values["TCP host->guest 1 stream Gbit/s"]
    assert one.value == tcp["sum_received"]["bits_per_second"] / 1e9
    assert (one.unit, one.direction) == ("Gbit/s", "higher")
    back = values["TCP guest->host 2 streams Gbit/s"].value
    assert back == reverse["sum_received"]["bits_per_second"] / 1e9
    assert values["UDP host->guest jitter"].value == udp["sum"]["jitter_ms"]
    assert values["UDP host->guest jitter"].direction == "lower"
    assert values["UDP host->guest loss"].unit == "%"


def test_a_failed_iperf3_run_fails_the_repetition_with_its_words() -> None:
    failed = json.dumps({"start": {}, "end": {}, "error": "unable to connect to server"})
    with pytest.raises(ParseError, match="iperf3 failed: unable to connect to server"):
        parse_iperf3_json(recorded("tcp-host-to-guest.json") + failed)
    with pytest.raises(ParseError, match="no iperf3 JSON result"):
        parse_iperf3_json("iperf3: error - unable to connect\n")


def test_the_quick_suite_measures_the_network_from_the_host_side() -> None:
    catalog = build_catalog()
    net = catalog.benchmarks["net-quick"]
    assert "net-quick" in catalog.suites["quick"] and net.category == "network"
    assert net.host_side == "iperf3" and net.vm_only
    assert net.command.count("iperf3 -c $SEVTUI_NET_HOST -p $SEVTUI_NET_PORT") == 5
    assert net.headline == r"^TCP .* Gbit/s$"


def test_the_recordings_are_real_iperf3_output() -> None:
    for path in sorted(Path(RECORDED).glob("*.json")):
        assert json.loads(path.read_text())["start"]["version"].startswith("iperf 3.")


def test_the_guest_senders_rtt_comes_from_the_servers_own_json() -> None:
    document = json.loads(recorded("tcp-reverse-server-output.json"))
    values = {v.metric: v for v in parse_iperf3_json(recorded("tcp-reverse-server-output.json"))}
    rtt = values["TCP guest->host 1 stream RTT"]
    sender = document["server_output_json"]["end"]["streams"][0]["sender"]
    assert rtt.value == sender["mean_rtt"] / 1000 and rtt.value > 0
    assert (rtt.unit, rtt.direction) == ("ms", "lower")
    assert document["end"]["streams"][0]["sender"]["mean_rtt"] == 0, "the client's copy is 0"
    without = {v.metric for v in parse_iperf3_json(recorded("tcp-2-streams-reverse.json"))}
    assert not any("RTT" in metric for metric in without)


def test_the_long_version_runs_ten_seconds_each_and_the_cvm_suite_has_it() -> None:
    catalog = build_catalog()
    net = catalog.benchmarks["net"]
    assert net.category == "network" and net.host_side == "iperf3" and net.vm_only
    assert net.command.count(" -t 10 ") == 5 and "-u -b 500M" in net.command
    assert net.command.count("--get-server-output") == 1
    assert set(catalog.suites["cvm"]) == {"net", "exits", "fio", "boot"}
