"""`bench run --label L --resume` (what a fleet rerun does) and `--events FILE`."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import sevtui


def test_a_rerun_of_a_done_label_measures_nothing_and_events_are_json_lines(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[paths]
data_dir = "{tmp_path / "data"}"
[bench]
warmup = 0
max_repetitions = 2
[benchmark.tiny]
command = "sleep 0.01"
[suites]
tiny = ["tiny"]
"""
    )
    events = tmp_path / "events.jsonl"
    run = ("bench", "run", "--vm", "host", "--suite", "tiny", "--repetitions", "2")
    first = sevtui(config, *run, "--label", "L", "--resume", "--events", str(events))
    assert first.returncode == 0, first.stderr
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    assert lines[0]["event"] == "RunStarted" and lines[0]["label"] == "L"
    assert lines[-1]["event"] == "RunFinished" and lines[-1]["status"] == "done"
    done = [line for line in lines if line["event"] == "RepetitionDone"]
    assert [(d["target"], d["benchmark"], d["repetition"]) for d in done] == [
        ("host", "tiny", 1),
        ("host", "tiny", 2),
    ]
    again = sevtui(config, *run, "--label", "L", "--resume")
    assert again.returncode == 0 and "is already done: nothing to measure" in again.stdout
    listed = json.loads(sevtui(config, "results", "list", "--json").stdout)
    assert [row["label"] for row in listed] == ["L"]
    missing = sevtui(config, "bench", "run", "--vm", "host", "--resume")
    assert missing.returncode == 2 and "--resume needs --label" in missing.stderr
