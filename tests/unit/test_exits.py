"""The VM-exit microbenchmark: built from its shipped source with the host's gcc, run for
real here, and its output read."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sevtui.bench.catalog import build_catalog
from sevtui.bench.parsers import ParseError, parse_exits
from sevtui.image.exits import built_exits

RECORDED = """sevtui-exits: tsc_mhz=2596.1
sevtui-exits: op=syscall cycles=423.8 ns=163.2 p10=423.8 p90=425.2 n=64
sevtui-exits: op=cpuid cycles=9643.5 ns=3714.6 p10=9280.4 p90=61935.4 n=64
sevtui-exits: op=port write skipped=Function not implemented
sevtui-exits: op=mmio read cycles=20000.0 ns=7703.8 p10=19000.0 p90=21000.0 n=64
"""


def test_each_measured_operation_gives_ns_and_cycles() -> None:
    values = {v.metric: (v.value, v.unit, v.direction) for v in parse_exits(RECORDED)}
    assert values == {
        "TSC frequency": (2596.1, "MHz", "higher"),
        "syscall ns": (163.2, "ns", "lower"),
        "syscall cycles": (423.8, "cycles", "lower"),
        "cpuid ns": (3714.6, "ns", "lower"),
        "cpuid cycles": (9643.5, "cycles", "lower"),
        "mmio read ns": (7703.8, "ns", "lower"),
        "mmio read cycles": (20000.0, "cycles", "lower"),
    }, "a skipped operation gives no value"


def test_output_without_a_measurement_is_refused() -> None:
    with pytest.raises(ParseError, match="no 'sevtui-exits: op="):
        parse_exits("sevtui-exits: tsc_mhz=2596.1\nSegmentation fault\n")
    with pytest.raises(ParseError, match="line 1"):
        parse_exits("sevtui-exits: op=cpuid cycles=x ns=1.0\n")


def test_the_shipped_source_builds_static_and_runs(tmp_path: Path) -> None:
    binary = built_exits(tmp_path / "tools")
    assert built_exits(tmp_path / "tools") == binary, "built once per source version"
    linked = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False)
    assert "not a dynamic executable" in linked.stdout + linked.stderr
    done = subprocess.run([str(binary)], capture_output=True, text=True, timeout=60, check=True)
    metrics = {v.metric for v in parse_exits(done.stdout)}
    assert {"TSC frequency", "syscall ns", "cpuid ns", "cpuid cycles"} <= metrics
    assert "op=mmio read skipped=not asked (--mmio)" in done.stdout, "no MMIO unless asked"


def test_the_host_target_is_told_why_it_cannot_run_exits() -> None:
    exits = build_catalog().benchmarks["exits"]
    assert exits.vm_only.startswith("on the host nothing exits")
    assert "exits" in build_catalog().suites["quick"]
