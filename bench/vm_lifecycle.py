"""Print VM lifecycle figures: boot to ready, stop time, and sevtui's own overhead.

Runs the real CLI against the demo guest under TCG, a few times, and prints medians.
Usage: python bench/vm_lifecycle.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import time
from pathlib import Path

import psutil
from harness import scratch_config, sevtui_argv


def sevtui(config: Path, *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.monotonic()
    done = subprocess.run(
        [*sevtui_argv(config), *args], capture_output=True, text=True, check=False
    )
    return time.monotonic() - started, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    ready, stops, lists, execs, supervisor_rss, qemu_rss = [], [], [], [], [], []
    with scratch_config({"demo": "512M"}) as config:
        for _ in range(runs):
            _, started = sevtui(config, "vm", "start", "demo")
            match = re.search(r"ready after ([\d.]+) s", started.stdout)
            assert match, started.stderr
            ready.append(float(match.group(1)))
            seconds, listed = sevtui(config, "vm", "list", "--json")
            lists.append(seconds)
            row = next(r for r in json.loads(listed.stdout) if r["name"] == "demo")
            qemu_rss.append(row["rss_bytes"] / 2**20)
            parent = psutil.Process(row["pid"]).parent()
            assert parent is not None
            supervisor_rss.append(parent.memory_info().rss / 2**20)
            seconds, _ = sevtui(config, "vm", "exec", "demo", "--", "true")
            execs.append(seconds)
            seconds, _ = sevtui(config, "vm", "stop", "demo")
            stops.append(seconds)
    med = statistics.median
    print(f"runs: {runs} (demo guest, 512M, TCG)")
    print(f"boot to ready (start -> ready marker): median {med(ready):.2f} s")
    print(f"vm stop (ACPI powerdown):              median {med(stops):.2f} s")
    print(f"vm list --json (CLI, incl. 0.2 s CPU sample): median {med(lists):.2f} s")
    print(f"vm exec -- true (CLI round trip):      median {med(execs):.2f} s")
    print(f"supervisor RSS per VM:                 median {med(supervisor_rss):.1f} MiB")
    print(f"QEMU RSS (for scale):                  median {med(qemu_rss):.1f} MiB")


if __name__ == "__main__":
    main()
