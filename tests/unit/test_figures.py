"""`results plot`: the figure read back (bars, error bars, means, labels) against
`results compare --json`, deterministic files, embedded fonts, clear refusals."""

from __future__ import annotations

import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from sevtui.cli.commands import main

SVG = "{http://www.w3.org/2000/svg}"
TRUE_FACTORS = {
    "sev": {"linux-build": 1.05, "godot-build": 1.08, "lz4-compress": 0.97, "sqlite-insert": 1.3},
    "snp": {"linux-build": 1.12, "godot-build": 1.09, "lz4-compress": 0.95, "sqlite-insert": 1.5},
}
BASE_S = {"linux-build": 300.0, "godot-build": 500.0, "lz4-compress": 3.0, "sqlite-insert": 2.5}


def cli(db: Path, *args: str) -> int:
    return main(["--db", str(db), *args])


def import_study(db: Path, seed: int, profiles: tuple[str, ...] = ("nosev", "sev", "snp")) -> None:
    """Five repetitions per profile of four benchmarks (cpu and io), imported as a run each."""
    rng = random.Random(seed)
    rows = ["bench,vm,secs"]
    for bench, seconds in BASE_S.items():
        for vm in profiles:
            factor = TRUE_FACTORS.get(vm.split("@")[0], {}).get(bench, 1.0)
            rows += [f"{bench},{vm},{seconds * factor * rng.gauss(1, 0.02):.5f}" for _ in range(5)]
    data = db.parent / f"study{seed}.csv"
    data.write_text("\n".join(rows) + "\n")
    args = ["--format", "csv", "--benchmark-col", "bench", "--profile-col", "vm"]
    assert cli(db, "import", str(data), "--label", "c", *args, "--value-col", "secs") == 0


@pytest.fixture
def study(tmp_path: Path) -> Path:
    db = tmp_path / "r.db"
    import_study(db, 1)
    return db


def compare(db: Path, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    assert cli(db, "results", "compare", "c", "--base", "nosev", *args, "--json") == 0
    return json.loads(capsys.readouterr().out)


def number(text: str) -> float:
    return float(text.replace("\u2212", "-"))


def x_scale(root: ET.Element) -> tuple[float, float]:
    """(px at 0, px per %) from the x axis' own tick labels, not from the drawing code."""
    ticks = []
    for text in root.iter(f"{SVG}text"):
        if re.fullmatch(r"[\u2212-]?\d+(\.\d+)?", (text.text or "").strip()):
            ticks.append((float(text.get("y", "0")), float(text.get("x", "0")), text.text or ""))
    bottom = max(y for y, _, _ in ticks)
    axis = sorted((x, number(label)) for y, x, label in ticks if y == bottom)
    (x0, v0), (x1, v1) = axis[0], axis[-1]
    per = (x1 - x0) / (v1 - v0)
    return x0 - v0 * per, per


def path_xs(group: ET.Element) -> list[float]:
    d = next(group.iter(f"{SVG}path")).get("d", "")
    return [float(x) for x in re.findall(r"[ML] (-?[\d.]+) -?[\d.]+", d)]


def by_id(root: ET.Element) -> dict[str, ET.Element]:
    return {g.get("id", ""): g for g in root.iter(f"{SVG}g")}


def test_each_bar_error_bar_mean_and_label_matches_compare(
    study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    figure = tmp_path / "fig.svg"
    args = ("--other", "sev", "--other", "snp")
    assert cli(study, "results", "plot", "c", "--base", "nosev", *args, "-o", str(figure)) == 0
    assert f"figure written: {figure}" in capsys.readouterr().out
    expected = compare(study, capsys, *args)["comparisons"]
    root = ET.parse(figure).getroot()
    zero, per = x_scale(root)
    groups = by_id(root)
    labels = {(t.text or "").strip() for t in root.iter(f"{SVG}text")}
    checked = 0
    for table in expected:
        other = table["other"]
        for bench in table["benchmarks"]:
            name, value = bench["benchmark"], bench["overhead_pct"]
            assert name in labels
            xs = path_xs(groups[f"bar:{other}:{name}"])
            tip = max(xs) if value >= 0 else min(xs)
            assert min(abs(x - zero) for x in xs) < 0.01, "bars start at the zero line"
            assert (tip - zero) / per == pytest.approx(value, abs=0.05)
            low, high = sorted(path_xs(groups[f"ci:{other}:{name}"]))
            ci = bench["overhead_ci95"]
            assert (low - zero) / per == pytest.approx(ci[0], abs=0.05)
            assert (high - zero) / per == pytest.approx(ci[1], abs=0.05)
            checked += 1
        for category, mean in [*table["categories"].items(), ("overall", table["overall"])]:
            marker = groups[f"mean:{other}:{category}"]
            x = float(next(marker.iter(f"{SVG}use")).get("x", "nan"))
            assert (x - zero) / per == pytest.approx(mean["overhead_pct"], abs=0.05)
            assert f"{category} mean" in labels
    assert checked == 8, "4 benchmarks x 2 other profiles"
    assert root.get("width") == "237.6pt", "exactly one column of a two-column paper (3.3 in)"
    assert {"sev", "snp"} <= labels, "the legend names each profile"


def test_the_same_data_gives_the_same_files_and_pdf_fonts_are_embedded(
    study: Path, tmp_path: Path
) -> None:
    written: dict[str, list[bytes]] = {}
    for attempt in range(2):
        for suffix in ("svg", "pdf", "png"):
            out = tmp_path / f"{attempt}.{suffix}"
            assert (
                cli(
                    study,
                    "results",
                    "plot",
                    "c",
                    "--base",
                    "nosev",
                    "--other",
                    "snp",
                    "--width",
                    "7",
                    "-o",
                    str(out),
                )
                == 0
            )
            written.setdefault(suffix, []).append(out.read_bytes())
    for suffix, (first, second) in written.items():
        assert first == second, suffix
    pdf = written["pdf"][0]
    assert b"/FontFile2" in pdf, "TrueType (Type 42) fonts embedded"
    assert b"/Type3" not in pdf
    assert written["png"][0].startswith(b"\x89PNG\r\n\x1a\n")


def test_a_sweep_draws_one_line_per_benchmark(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    import_study(db, 2, ("nosev@vcpus=1", "nosev@vcpus=2", "nosev@vcpus=4"))
    out = tmp_path / "along.svg"
    args = ("--base", "nosev", "--other", "nosev", "--kind", "along", "--along", "vcpus")
    assert cli(db, "results", "plot", "c", *args, "-o", str(out)) == 0
    groups = by_id(ET.parse(out).getroot())
    assert {f"line:{b}" for b in BASE_S} | {"line:overall mean"} <= set(groups)
    labels = {(t.text or "").strip() for t in ET.parse(out).getroot().iter(f"{SVG}text")}
    assert {"2", "4", "vcpus"} <= labels, "each value against the first (vcpus=1)"


def test_merged_hosts_get_one_bar_each(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "r.db"
    import_study(db, 3, ("nosev", "snp"))
    import_study(db, 4, ("nosev", "snp"))
    with sqlite3.connect(db) as connection:
        connection.execute('UPDATE runs SET provenance = \'{"host": "milan"}\' WHERE id <= 2')
        connection.execute('UPDATE runs SET provenance = \'{"host": "genoa"}\' WHERE id > 2')
    out = tmp_path / "hosts.svg"
    args = ("--base", "nosev", "--other", "snp", "--kind", "by-host")
    assert cli(db, "results", "plot", "c", *args, "-o", str(out)) == 0
    groups = by_id(ET.parse(out).getroot())
    for host in ("milan", "genoa"):
        assert {f"bar:{host}:{bench}" for bench in BASE_S} <= set(groups)


def test_repetitions_are_drawn_per_profile_in_order(study: Path, tmp_path: Path) -> None:
    out = tmp_path / "reps.svg"
    args = ("--other", "snp", "--kind", "repetitions", "--benchmark", "linux-build")
    assert (
        cli(
            study,
            "results",
            "plot",
            "c",
            "--base",
            "nosev",
            *args,
            "--metric",
            "value",
            "-o",
            str(out),
        )
        == 0
    )
    groups = by_id(ET.parse(out).getroot())
    assert {"points:nosev", "points:snp"} <= set(groups)
    assert "points:sev" not in groups, "only the profiles asked for"
    assert len(list(groups["points:snp"].iter(f"{SVG}use"))) == 5


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--other", "snp", "-o", "fig.jpg"), "name the file .pdf, .svg or .png"),
        (("--other", "snp", "--kind", "repetitions", "-o", "f.svg"), "--benchmark B --metric M"),
        (("--other", "snp", "--kind", "along", "-o", "f.svg"), "--along PARAM"),
        (("--other", "snp", "--width", "0.5", "-o", "f.svg"), "1.5 to 20 inches"),
        (("--other", "nobody", "-o", "f.svg"), "nobody"),
    ],
)
def test_what_cannot_be_drawn_is_refused_clearly(
    study: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    said: str,
) -> None:
    capsys.readouterr()
    moved = [str(tmp_path / a) if a.startswith(("fig.", "f.")) else a for a in args]
    assert cli(study, "results", "plot", "c", "--base", "nosev", *moved) == 2
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err
    assert not list(tmp_path.glob("f*.*")), "nothing half-written"


def test_compare_never_loads_matplotlib_nor_sqlite_utils(study: Path) -> None:
    code = (
        "import sys; from sevtui.cli.commands import main; "
        f"rc = main(['--db', {str(study)!r}, 'results', 'compare', 'c', '--base', 'nosev', "
        "'--other', 'snp', '--json']); "
        "print([m for m in ('matplotlib', 'sqlite_utils') if m in sys.modules], file=sys.stderr); "
        "sys.exit(rc)"
    )
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().endswith("[]")


def test_a_link_or_fifo_where_the_figure_goes_is_refused(
    study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    victim = tmp_path / "passwd"
    victim.write_text("root:x:0:0\n")
    link = tmp_path / "fig.svg"
    link.symlink_to(victim)
    fifo = tmp_path / "fifo.svg"
    os.mkfifo(fifo)
    for target, said in ((link, "symbolic link"), (fifo, "not a regular file")):
        capsys.readouterr()
        args = ("--base", "nosev", "--other", "snp", "-o", str(target))
        assert cli(study, "results", "plot", "c", *args) == 2
        assert said in capsys.readouterr().err
    assert victim.read_text() == "root:x:0:0\n"
