"""Sweeps and concurrent runs under TCG: variants of the demo guest, unavailable kinds,
--along, and two guests measured at the same time."""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from sevtui.host.sysctl import PROC_SYS_ENV
from tests.conftest import sevtui

pytestmark = pytest.mark.slow

SPIN = "i=0; while [ $i -lt 3000 ]; do i=$((i + 1)); done"


def with_spin(config: Path) -> Path:
    """vm_config_file plus a small CPU-bound benchmark and a suite of it."""
    config.write_text(
        config.read_text()
        + f'\n[benchmark.spin]\ncommand = "{SPIN}"\ncategory = "cpu"\n[suites]\nspin = ["spin"]\n'
        + "[bench]\nmax_repetitions = 2\n"
    )
    return config


@pytest.mark.timeout(600)
def test_a_quick_sweep_over_kind_vcpus_and_memory_runs_what_launches_here(
    vm_config_file: Path,
) -> None:
    """The issue's sweep: the demo guest over vcpus=1,2 and memory=256M,512M, quick suite,
    one repetition; and sev-snp variants, which this host records as unavailable."""
    config = with_spin(vm_config_file)
    config.write_text(config.read_text().replace("max_repetitions = 2", "max_repetitions = 1"))
    args = ["bench", "sweep", "--vm", "demo", "--vary", "kind=nosev,sev-snp"]
    args += ["--vary", "vcpus=1,2", "--vary", "memory=256M,512M", "--suite", "quick"]
    done = sevtui(
        config, *args, "--repetitions", "1", "--warmup", "0", "--label", "sw", timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (
        "sweep of 8 variants: demo@kind=nosev+vcpus=1+memory=256M, "
        "demo@kind=sev-snp+vcpus=1+memory=256M, demo@kind=nosev+vcpus=1+memory=512M"
    ) in done.stderr
    shown = json.loads(sevtui(config, "results", "show", "sw", "--json").stdout)
    run = shown["runs"][0]
    assert run["status"] == "done"
    big = "demo@kind=nosev+vcpus=2+memory=512M"
    assert run["target_info"][big]["variant"] == {
        "base": "demo",
        "kind": "nosev",
        "vcpus": "2",
        "memory": "512M",
    }
    assert run["target_info"][big]["vcpus"] == 2
    assert run["target_info"][big]["memory"] == 512 << 20
    measured = {(m["target"], m["benchmark"]) for m in shown["metrics"]}
    for vcpus in ("1", "2"):
        for memory in ("256M", "512M"):
            name = f"demo@kind=nosev+vcpus={vcpus}+memory={memory}"
            assert {(name, "boot"), (name, "redis-quick")} <= measured
    unavailable = {p["target"] for p in shown["problems"] if p["status"] == "unavailable"}
    combos = [(v, m) for v in ("1", "2") for m in ("256M", "512M")]
    assert unavailable == {
        f"demo@kind={kind}+vcpus={v}+memory={m}" for kind in ("sev-snp", "nosev") for v, m in combos
    }
    # The minimal guest has no compiler and no disk: only those two are unavailable there.
    minimal = {
        p["benchmark"]
        for p in shown["problems"]
        if p["status"] == "unavailable" and "kind=nosev" in p["target"]
    }
    assert minimal == {"build-quick", "fio-quick"}
    unavailable = {t for t in unavailable if "kind=sev-snp" in t}
    assert all(
        "this host cannot run sev-snp guests" in p["message"]
        for p in shown["problems"]
        if p["target"] in unavailable
    )
    checked = json.loads(sevtui(config, "config", "check", "--json").stdout)
    with sqlite3.connect(Path(checked["config"]["paths"]["data_dir"]) / "sevtui.db") as db:
        created = db.execute(
            "SELECT target, MIN(created), MAX(created) FROM results WHERE run_id = ? "
            "AND status = 'ok' GROUP BY target",
            (run["id"],),
        ).fetchall()
    windows = {target: (first, last) for target, first, last in created}
    sizes = [f"vcpus={v}+memory={m}" for v in ("1", "2") for m in ("256M", "512M")]
    spans = [windows[f"demo@kind=nosev+{size}"] for size in sizes]
    for earlier, later in itertools.pairwise(spans):
        assert earlier[1] < later[0], "one size's variants run before the next size's start"
    text = sevtui(config, "results", "show", "sw").stdout
    assert f"{big}: variant of demo: kind=nosev, vcpus=2, memory=512M" in text
    assert qemus_of(config) == [], "a sweep stops the variants it started"
    resumed = sevtui(config, "bench", "resume", str(run["id"]), timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]


def test_overhead_along_vcpus_is_the_ratio_of_the_stored_means(vm_config_file: Path) -> None:
    config = with_spin(vm_config_file)
    args = ["bench", "sweep", "--vm", "demo", "--vm", "other", "--vary", "vcpus=1,2"]
    args += ["--suite", "spin", "--repetitions", "2", "--warmup", "0", "--label", "al"]
    done = sevtui(config, *args, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    along = sevtui(
        config,
        "results",
        "compare",
        "al",
        "--base",
        "demo",
        "--other",
        "other",
        "--along",
        "vcpus",
        "--json",
    )
    assert along.returncode == 0, along.stderr
    points = json.loads(along.stdout)["points"]
    assert [(p["value"], p["base_target"], p["other_target"]) for p in points] == [
        ("1", "demo@vcpus=1", "other@vcpus=1"),
        ("2", "demo@vcpus=2", "other@vcpus=2"),
    ]
    metrics = json.loads(sevtui(config, "results", "show", "al", "--json").stdout)["metrics"]
    means = {m["target"]: m["mean"] for m in metrics if m["benchmark"] == "spin"}
    for point in points:
        [spin] = point["benchmarks"]
        expected = (means[point["other_target"]] / means[point["base_target"]] - 1) * 100
        assert spin["overhead_pct"] == pytest.approx(expected, rel=1e-9)
    text = sevtui(
        config, "results", "compare", "al", "--base", "demo", "--other", "other", "--along", "vcpus"
    ).stdout
    assert "other@vcpus=1 vs demo@vcpus=1 along vcpus" in text
    assert "vcpus=1" in text and "vcpus=2" in text and "spin" in text


def test_a_concurrent_run_measures_both_guests_at_once_and_is_not_mixed(
    vm_config_file: Path,
) -> None:
    config = vm_config_file
    config.write_text(
        config.read_text()
        + '\n[benchmark.nap]\ncommand = "sleep 2"\n[suites]\nnap = ["nap"]\n'
        + "[bench]\nmax_repetitions = 2\nwarmup = 0\n"
    )
    args = ["bench", "run", "--vm", "demo", "--vm", "other", "--suite", "nap"]
    args += ["--repetitions", "2", "--label", "mixed"]
    together = sevtui(config, *args, "--concurrent", timeout=600)
    assert together.returncode == 0, together.stderr[-2000:]
    shown = json.loads(sevtui(config, "results", "show", "mixed", "--json").stdout)
    run = shown["runs"][0]
    assert run["provenance"]["mode"] == "concurrent"
    checked = json.loads(sevtui(config, "config", "check", "--json").stdout)
    database = Path(checked["config"]["paths"]["data_dir"]) / "sevtui.db"
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT repetition, target, seconds, created FROM results WHERE run_id = ? "
            "AND status = 'ok' ORDER BY repetition, target",
            (run["id"],),
        ).fetchall()
    by_repetition: dict[int, list[tuple[float, float]]] = {}
    for repetition, _target, seconds, created in rows:
        by_repetition.setdefault(repetition, []).append((seconds, created))
    assert sorted(by_repetition) == [1, 2]
    for pair in by_repetition.values():
        (first_s, first_end), (second_s, second_end) = pair
        assert min(first_s, second_s) >= 2
        # Recorded together once both finished, not one nap after the other.
        assert abs(first_end - second_end) < 1.5, pair
    compared = json.loads(
        sevtui(
            config,
            "results",
            "compare",
            str(run["id"]),
            "--base",
            "demo",
            "--other",
            "other",
            "--json",
        ).stdout
    )
    assert compared["run_mode"] == "concurrent"

    apart = sevtui(config, *args, timeout=600)
    assert apart.returncode == 0, apart.stderr[-2000:]
    mixed = sevtui(config, "results", "compare", "mixed", "--base", "demo", "--other", "other")
    assert mixed.returncode == 2
    assert "mix concurrent and interleaved measurement" in mixed.stderr


def qemus_of(config: Path) -> list[str]:
    """The command lines of QEMUs running from CONFIG's state folder (other tests' QEMUs
    on this machine, sweeps of their own demo VM included, are not this test's)."""
    folder = str(config.parent)
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if "qemu" in (proc.info["name"] or "") and any(folder in arg for arg in cmdline):
            found.append(" ".join(cmdline))
    return found


def absent_node() -> int:
    """The lowest NUMA node number this host does not have."""
    present = {p.name.removeprefix("node") for p in Path("/sys/devices/system/node").glob("node*")}
    return next(n for n in range(1024) if str(n) not in present)


@pytest.mark.timeout(600)
def test_a_node_the_host_lacks_is_unavailable_and_node_0_runs_bound(
    vm_config_file: Path,
) -> None:
    missing = absent_node()
    config = with_spin(vm_config_file)
    args = ["bench", "sweep", "--vm", "demo", "--vary", f"numa_node=0,{missing}"]
    done = sevtui(config, *args, "--suite", "spin", "--repetitions", "1", "--label", "nu")
    assert done.returncode == 0, done.stderr[-3000:]
    shown = json.loads(sevtui(config, "results", "show", "nu", "--json").stdout)
    info = shown["runs"][0]["target_info"]["demo@numa_node=0"]
    assert info["numa_node"] == 0
    assert info["numa_binding"].startswith("numactl --cpunodebind=0 --membind=0")
    assert "host-nodes=0,policy=bind" in " ".join(info["argv"])
    assert {m["target"] for m in shown["metrics"]} == {"demo@numa_node=0"}
    (problem,) = [p for p in shown["problems"] if p["target"] == f"demo@numa_node={missing}"]
    assert problem["status"] == "unavailable"
    assert f"numa_node = {missing}, but this host has NUMA node(s) " in problem["message"]


@pytest.mark.timeout(600)
def test_a_killed_sweep_puts_numa_balancing_back(vm_config_file: Path) -> None:
    """The sweep sets kernel.numa_balancing (here in a folder standing in for /proc/sys)
    and is killed with SIGKILL while the variant that set it runs: the value comes back."""
    proc_sys = vm_config_file.parent / "proc-sys"
    (proc_sys / "kernel").mkdir(parents=True)
    setting = proc_sys / "kernel" / "numa_balancing"
    setting.write_text("0\n")
    config = with_spin(vm_config_file)
    config.write_text(config.read_text().replace("max_repetitions = 2", "max_repetitions = 99"))
    args = ["bench", "sweep", "--vm", "demo", "--vary", "numa_balancing=1,0", "--suite", "spin"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "sevtui", "--config", str(config), *args, "--repetitions", "99"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, PROC_SYS_ENV: str(proc_sys)},
    )
    deadline = time.monotonic() + 300
    while setting.read_text() != "1\n":
        assert time.monotonic() < deadline and proc.poll() is None, "the sweep never set it"
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 60
    while setting.read_text() != "0\n":
        assert time.monotonic() < deadline, "numa_balancing was left at 1"
        time.sleep(0.1)


@pytest.mark.timeout(600)
def test_a_forced_bounce_variant_says_so_in_its_guests_word(vm_config_file: Path) -> None:
    config = with_spin(vm_config_file)
    args = ["bench", "sweep", "--vm", "demo", "--vary", "bounce=off,force", "--suite", "spin"]
    done = sevtui(config, *args, "--repetitions", "2", "--label", "bo", timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    shown = json.loads(sevtui(config, "results", "show", "bo", "--json").stdout)
    info = shown["runs"][0]["target_info"]
    assert info["demo@bounce=force"]["guest_word"]["swiotlb_forced"] is True
    assert info["demo@bounce=off"]["guest_word"]["swiotlb_forced"] is False
    assert "swiotlb=force" in " ".join(info["demo@bounce=force"]["argv"])
    counted = {(m["target"], m["n"]) for m in shown["metrics"] if m["benchmark"] == "spin"}
    assert counted == {("demo@bounce=off", 2), ("demo@bounce=force", 2)}


@pytest.mark.timeout(600)
def test_tdx_variants_are_unavailable_with_the_reason_where_tdx_cannot_run(
    vm_config_file: Path,
) -> None:
    config = with_spin(vm_config_file)
    caps = json.loads(sevtui(config, "caps", "--json").stdout)
    if caps["profiles"]["tdx"]["launchable"]:
        pytest.skip("this host can run TDX guests")
    args = ["bench", "sweep", "--vm", "demo", "--vary", "kind=nosev,tdx", "--suite", "spin"]
    done = sevtui(config, *args, "--repetitions", "1", "--label", "td", timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    shown = json.loads(sevtui(config, "results", "show", "td", "--json").stdout)
    assert {m["target"] for m in shown["metrics"]} == {"demo@kind=nosev"}
    (problem,) = [p for p in shown["problems"] if p["target"] == "demo@kind=tdx"]
    assert problem["status"] == "unavailable"
    assert problem["message"].startswith("this host cannot run tdx guests: ")
