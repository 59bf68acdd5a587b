"""Print memory-probe figures: sevtui's scan against the seed's gcore + grep, same guests.

Guests (demo image, TCG): 512 MiB idle, 4 GiB idle, 4 GiB with 3 GiB touched. For each,
both methods run RUNS times on the same planted canary; medians, throughput and the
ratio are printed.
Usage: python bench/probe_scan.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from sevtui.config import Config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    root = Path(tempfile.mkdtemp(prefix="svp", dir="/tmp"))
    config = root / "config.toml"
    config.write_text(
        f'[paths]\nstate_dir = "{root}/st"\ndata_dir = "{root}/data"\n'
        f'image_dir = "{Config().paths.images}"\n[qemu]\naccel = "tcg"\n'
        '[vm.small]\nmemory = "512M"\n[vm.big]\nmemory = "4G"\n'
    )
    base = [sys.executable, "-m", "sevtui", "--config", str(config)]

    def cli(*args: str) -> str:
        done = subprocess.run([*base, *args], capture_output=True, text=True, check=True)
        return done.stdout

    cases = (
        ("512 MiB idle", "small", None),
        ("4 GiB idle", "big", None),
        (
            "4 GiB, 3 GiB touched",
            "big",
            "mount -o remount,size=3600M /tmp && "
            "dd if=/dev/zero of=/tmp/fill bs=1M count=3072 2>/dev/null",
        ),
    )
    rows = []
    try:
        for title, vm, touch in cases:
            status = json.loads(cli("vm", "list", "--json"))
            if not any(r["name"] == vm and r["state"] == "running" for r in status):
                for other in ("small", "big"):
                    subprocess.run(
                        [*base, "vm", "stop", other, "--kill"], capture_output=True, check=False
                    )
                cli("vm", "start", vm)
            if touch:
                cli("vm", "exec", vm, "--timeout", "600", "--", "sh", "-c", touch)
            times: dict[str, list[float]] = {"scan": [], "gcore": []}
            scanned: dict[str, int] = {}
            for _ in range(runs):
                for method in ("scan", "gcore"):
                    result = json.loads(cli("probe", vm, "--method", method, "--json"))
                    assert result["found"], f"{method} did not find the canary"
                    times[method].append(result["seconds"])
                    scanned[method] = result["bytes_scanned"]
            rows.append((title, times, scanned))
    finally:
        subprocess.run(["pkill", "-9", "-f", str(root)], check=False)
        shutil.rmtree(root, ignore_errors=True)
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
