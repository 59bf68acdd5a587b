"""Print memory-probe figures: sevtui's scan against the seed's gcore + grep, same guests.

Guests (demo image, TCG): 512 MiB idle, 4 GiB idle, 4 GiB with 3 GiB touched. For each,
both methods run RUNS times on the same planted canary; medians, throughput and the
ratio are printed.
Usage: python bench/probe_scan.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess

from harness import scratch_config, sevtui_argv

CASES = (
    ("512 MiB idle", "small", None),
    ("4 GiB idle", "big", None),
    (
        "4 GiB, 3 GiB touched",
        "big",
        "mount -o remount,size=3600M /tmp && dd if=/dev/zero of=/tmp/fill bs=1M count=3072",
    ),
)
Row = tuple[str, dict[str, list[float]], dict[str, int]]


def measure(base: list[str], runs: int) -> list[Row]:
    """Both methods on each guest case, RUNS times."""

    def cli(*args: str) -> str:
        return subprocess.run([*base, *args], capture_output=True, text=True, check=True).stdout

    rows: list[Row] = []
    for title, vm, touch in CASES:
        listing = json.loads(cli("vm", "list", "--json"))
        if not any(r["name"] == vm and r["state"] == "running" for r in listing):
            for other in ("small", "big"):
                subprocess.run(
                    [*base, "vm", "stop", other, "--kill"], capture_output=True, check=False
                )
            cli("vm", "start", vm)
        if touch:
            cli("vm", "exec", vm, "--timeout", "600", "--", "sh", "-c", f"{touch} 2>/dev/null")
        times: dict[str, list[float]] = {"scan": [], "gcore": []}
        scanned: dict[str, int] = {}
        for _ in range(runs):
            for method in ("scan", "gcore"):
                result = json.loads(cli("probe", vm, "--method", method, "--json"))
                assert result["found"], f"{method} did not find the canary"
                times[method].append(result["seconds"])
                scanned[method] = result["bytes_scanned"]
        rows.append((title, times, scanned))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    with scratch_config({"small": "512M", "big": "4G"}) as config:
        rows = measure(sevtui_argv(config), runs)
    print(
        f"{'guest':<24} {'scan s':>8} {'scan MiB':>9} {'gcore s':>8} {'core MiB':>9} {'ratio':>7}"
    )
    for title, times, scanned in rows:
        scan, gcore = statistics.median(times["scan"]), statistics.median(times["gcore"])
        print(
            f"{title:<24} {scan:>8.3f} {scanned['scan'] / 2**20:>9.0f} {gcore:>8.2f} "
            f"{scanned['gcore'] / 2**20:>9.0f} {gcore / scan:>6.0f}x"
        )
    print(f"(medians of {runs} runs; scan reads only resident guest-RAM pages)")


if __name__ == "__main__":
    main()
