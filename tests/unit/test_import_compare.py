"""Import of the seed's outputs and the comparison it gives; all-or-nothing imports."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pytest
from scipy import stats

from sevtui.base.values import Value
from sevtui.bench.facts import run_facts
from tests.sysroots import DATA
from tests.unit.conftest import SEED, cli
from tests.unit.test_stats import fieller_by_hand


def test_every_seed_value_lands(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert cli(seeded, "results", "list", "--json") == 0
    runs = json.loads(capsys.readouterr().out)
    # 7 tinyben times + 3 mbw (one AVG per method: its iterations are not samples)
    # + 101 tinymembench + 140 redis values, per profile.
    assert sorted(run["measurements"] for run in runs) == [251, 251]
    assert {run["status"] for run in runs} == {"imported"}


def compare_json(db: Path, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    assert cli(db, "results", "compare", *args, "--json") == 0
    return json.loads(capsys.readouterr().out, parse_constant=_no_constants)


def _no_constants(name: str) -> None:
    raise AssertionError(f"{name} is not JSON")


def geomean_pct(pcts: list[float]) -> float:
    return (math.exp(sum(math.log(1 + p / 100) for p in pcts) / len(pcts)) - 1) * 100


def test_compare_gives_the_seed_overheads(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = compare_json(seeded, capsys, "seed", "--base", "nosev", "--other", "sev-snp")
    rows = {(r["benchmark"], r["metric"]): r for r in table["rows"]}
    linux = rows[("linux-build", "time")]
    assert linux["base"]["mean"] == 319.93260073661804
    assert linux["other"]["mean"] == 357.29826259613037
    assert round(linux["overhead_pct"], 2) == 11.68
    assert rows[("godot-build", "time")]["overhead_pct"] == pytest.approx(8.6001, abs=1e-4)
    memcpy = rows[("mbw", "MEMCPY")]
    # One repetition: mbw's AVG line (18394.207 vs 19159.418 MiB/s), not its 10 iterations.
    assert memcpy["base"]["n"] == 1 and memcpy["significant"] is None
    assert memcpy["change_pct"] == pytest.approx((18394.207 / 19159.418 - 1) * 100)
    assert round(memcpy["change_pct"], 2) == -3.99
    assert memcpy["overhead_ci95"] is None and "at least 2 units" in memcpy["reason"]
    for key in ("benchmark", "metric", "unit", "direction", "change_pct", "overhead_ci95", "noisy"):
        assert key in linux


def test_mbw_without_avg_lines_compares_the_mean_of_its_iterations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "r.db"
    means = {}
    for folder, profile in (("sev", "sev-snp"), ("nosev", "nosev")):
        lines = (SEED / folder / "mbw.txt").read_text().splitlines()
        cut = tmp_path / f"{folder}.txt"
        cut.write_text("\n".join(line for line in lines if not line.startswith("AVG")))
        rates = [float(line.split("Copy:")[1].split()[0]) for line in lines if "MEMCPY" in line]
        means[profile] = sum(rates[:10]) / 10
        assert cli(db, "import", str(cut), "--label", "m", "--profile", profile) == 0
    table = compare_json(db, capsys, "m", "--base", "nosev", "--other", "sev-snp")
    memcpy = next(r for r in table["rows"] if r["metric"] == "MEMCPY")
    assert memcpy["change_pct"] == pytest.approx((means["sev-snp"] / means["nosev"] - 1) * 100)
    assert round(memcpy["change_pct"], 2) == -4.05


def test_means_are_over_benchmarks_from_headline_metrics(
    seeded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = compare_json(seeded, capsys, "seed", "--base", "nosev", "--other", "sev-snp")
    benchmarks = {b["benchmark"]: b for b in table["benchmarks"]}
    assert len(benchmarks) == 10 and all(b["overhead_pct"] is not None for b in benchmarks.values())
    # redis: the geometric mean of its rps ratios (base/other for rates), from the seed's CSVs.
    rps = {}
    for folder in ("nosev", "sev"):
        rows = list(csv.DictReader((SEED / folder / "redis.csv").read_text().splitlines()))
        rps[folder] = {row["test"]: float(row["rps"]) for row in rows}
    ratios = [rps["nosev"][test] / rps["sev"][test] for test in rps["nosev"]]
    expected = (math.exp(sum(map(math.log, ratios)) / len(ratios)) - 1) * 100
    assert benchmarks["redis"]["overhead_pct"] == pytest.approx(expected)
    assert benchmarks["redis"]["n_metrics"] == 20
    assert benchmarks["mbw"]["n_metrics"] == 3 and benchmarks["tinymembench"]["n_metrics"] == 2
    for category, mean in table["categories"].items():
        mine = [b["overhead_pct"] for b in benchmarks.values() if b["category"] == category]
        assert mean["overhead_pct"] == pytest.approx(geomean_pct(mine))
        # every benchmark of the seed ran once: the mean says so and has no interval
        assert mean["overhead_ci95"] is None and "no interval" in mean["reason"]
        assert {e["benchmark"] for e in mean["excluded"]} == {
            b for b, v in benchmarks.items() if v["category"] == category
        }
    every = [b["overhead_pct"] for b in benchmarks.values()]
    assert table["overall"]["overhead_pct"] == pytest.approx(geomean_pct(every))
    assert table["overall"]["overhead_ci95"] is None
    assert round(table["categories"]["cpu"]["overhead_pct"], 2) == 7.11


def test_gr_style_five_runs_reproduce_per_benchmark_overheads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = DATA / "gr-5runs.csv"
    db = tmp_path / "r.db"
    args = ["--format", "csv", "--benchmark-col", "benchmark", "--profile-col", "profile"]
    assert cli(db, "import", str(data), "--label", "gr", *args, "--value-col", "seconds",
               "--unit", "s") == 0  # fmt: skip
    table = compare_json(db, capsys, "gr", "--base", "nosev", "--other", "sev-snp")
    values: dict[tuple[str, str], list[float]] = {}
    for row in csv.DictReader(data.read_text().splitlines()):
        values.setdefault((row["benchmark"], row["profile"]), []).append(float(row["seconds"]))
    names = {
        "Godot Game Enging compilation": "godot-build",
        "ImageMagick compilation (gcc)": "imagemagick-build",
        "linux compilation (defconfig)": "linux-build",
        "llvm-project compilation (ninja)": "llvm-build",
        "lz4 compress": "lz4-compress",
        "lz4 decompress": "lz4-decompress",
        "sqlite 2500 insertions": "sqlite-insert",
    }
    benchmarks = {b["benchmark"]: b for b in table["benchmarks"]}
    terms = []
    for name, bench_id in names.items():
        base, other = values[(name, "nosev")], values[(name, "sev-snp")]
        by_hand = (sum(other) / 5) / (sum(base) / 5) * 100 - 100
        got = benchmarks[bench_id]
        assert abs(got["overhead_pct"] - by_hand) < 0.01
        low, high = fieller_by_hand(base, other)
        assert got["overhead_ci95"] == pytest.approx([(low - 1) * 100, (high - 1) * 100])
        assert next(r for r in table["rows"] if r["benchmark"] == bench_id)["base"]["n"] == 5
        terms.append((bench_id, by_hand, base, other))
    for category, members in (
        ("cpu", [t for t in terms if t[0] != "sqlite-insert"]),
        (None, terms),
    ):
        mean = table["categories"][category] if category else table["overall"]
        assert mean["overhead_pct"] == pytest.approx(geomean_pct([t[1] for t in members]))
        assert mean["overhead_ci95"] == pytest.approx(delta_by_hand(members), rel=1e-9)
        assert mean["excluded"] == []


def delta_by_hand(
    members: list[tuple[str, float, list[float], list[float]]],
) -> list[float]:
    """The geometric mean's 95 % CI: var(log mean ratio) = sum over benchmarks and sides of
    var(values) / n / mean**2, over m**2; Welch-Satterthwaite df; scipy's t."""
    center = sum(math.log(1 + t[1] / 100) for t in members) / len(members)
    parts = [
        (stats.tvar(side) / len(side) / (sum(side) / len(side)) ** 2, len(side) - 1)
        for _, _, base, other in members
        for side in (base, other)
    ]
    total = sum(v for v, _ in parts)
    df = total**2 / sum(v * v / d for v, d in parts)
    half = stats.t.ppf(0.975, df) * math.sqrt(total) / len(members)
    return [(math.exp(center - half) - 1) * 100, (math.exp(center + half) - 1) * 100]


def test_several_other_profiles_in_one_comparison(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "long.csv"
    rows = ["bench,vm,secs"] + [
        f"linux,{vm},{t}"
        for vm, times in (("nosev", (10, 11)), ("sev", (11, 12)), ("snp", (12, 13)))
        for t in times
    ]
    data.write_text("\n".join(rows) + "\n")
    db = tmp_path / "r.db"
    args = ["--format", "csv", "--benchmark-col", "bench", "--profile-col", "vm"]
    assert cli(db, "import", str(data), "--label", "c", *args, "--value-col", "secs") == 0
    both = compare_json(db, capsys, "c", "--base", "nosev", "--other", "sev", "--other", "snp")
    assert both["base"] == "nosev" and [c["other"] for c in both["comparisons"]] == ["sev", "snp"]
    assert both["comparisons"][1]["rows"][0]["overhead_pct"] == pytest.approx(
        12.5 / 10.5 * 100 - 100
    )
    single = compare_json(db, capsys, "c", "--base", "nosev", "--other", "snp")
    assert single == both["comparisons"][1]
    capsys.readouterr()
    assert (
        cli(db, "results", "compare", "c", "--base", "nosev", "--other", "sev", "--other", "snp")
        == 0
    )
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if "benchmark" in line and "|" in line)
    assert header.count("|") == 2 and "sev" in header and "snp" in header
    assert cli(db, "results", "compare", "c", "--base", "snp", "--other", "snp") == 2
    assert "compared with itself" in capsys.readouterr().err


def test_compare_markdown_and_csv(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    cli(seeded, "results", "compare", "seed", "--base", "nosev", "--other", "sev-snp", "--markdown")
    markdown = capsys.readouterr().out
    assert "| cpu | linux-build | time |" in markdown and "geometric mean" in markdown
    cli(seeded, "results", "compare", "seed", "--base", "nosev", "--other", "sev-snp", "--csv")
    assert capsys.readouterr().out.startswith("other,benchmark,category,metric")


def test_bad_file_imports_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "r.db"
    bad = tmp_path / "redis.csv"
    bad.write_text('"test","rps","avg_latency_ms"\n"SET","1","x"\n')
    code = cli(db, "import", str(SEED / "sev/mbw.txt"), str(bad), "--label", "l", "--profile", "p")
    err = capsys.readouterr().err
    assert code == 2 and f"{bad}: line 2: avg_latency_ms = 'x' is not a number" in err
    assert cli(db, "results", "list", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []


def test_unknown_profile_and_run(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(seeded, "results", "compare", "seed", "--base", "host", "--other", "sev-snp") == 2
    assert "--base 'host' has no measurements" in capsys.readouterr().err
    assert cli(seeded, "results", "show", "nope") == 2
    assert "no run with id or label 'nope'" in capsys.readouterr().err


def test_long_csv_one_run_per_profile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "long.csv"
    data.write_text("bench,vm,secs\nlinux,nosev,10\nlinux,nosev,11\nlinux,snp,12\nlinux,snp,13\n")
    db = tmp_path / "r.db"
    assert (
        cli(
            db,
            "import",
            str(data),
            "--label",
            "csv",
            "--format",
            "csv",
            "--benchmark-col",
            "bench",
            "--profile-col",
            "vm",
            "--value-col",
            "secs",
            "--unit",
            "s",
        )
        == 0
    )
    capsys.readouterr()
    cli(db, "results", "compare", "csv", "--base", "nosev", "--other", "snp", "--json")
    row = json.loads(capsys.readouterr().out)["rows"][0]
    assert row["benchmark"] == "linux-build" and row["base"]["n"] == 2
    assert row["overhead_pct"] == pytest.approx((12.5 - 10.5) / 10.5 * 100)


def test_noisy_metrics_are_flagged() -> None:
    from sevtui.bench.results import build_comparison
    from sevtui.store.rows import Sample, group_samples

    def m(target: str, rep: int, value: float) -> Sample:
        return Sample(1, target, "b", "cpu", "time", "s", "lower", rep, value)

    steady = [m("a", 1, 10.0), m("a", 2, 10.01), m("b", 1, 11.0), m("b", 2, 11.02)]
    jumpy = [m("a", 1, 10.0), m("a", 2, 14.0), m("b", 1, 11.0), m("b", 2, 11.02)]
    assert build_comparison(group_samples(steady), "a", "b", 3.5).rows[0].noisy is False
    assert build_comparison(group_samples(jumpy), "a", "b", 3.5).rows[0].noisy is True


@pytest.mark.parametrize(
    ("cell", "why"),
    [
        ("inf", "not a finite number"),
        ("nan", "not a finite number"),
        ("-3", "negative"),
        ("1e308", "out of range"),
    ],
)
def test_import_refuses_unusable_values_with_file_line_and_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cell: str, why: str
) -> None:
    data = tmp_path / "v.csv"
    data.write_text(f"bench,secs\nlinux,10\nlinux,{cell}\n")
    db = tmp_path / "r.db"
    args = ["--format", "csv", "--benchmark-col", "bench", "--value-col", "secs"]
    assert cli(db, "import", str(data), "--label", "v", "--profile", "p", *args) == 2
    err = capsys.readouterr().err
    assert f"{data}: line 3: " in err and why in err and "Traceback" not in err
    assert cli(db, "results", "list", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []


def test_import_refuses_a_short_row_and_things_that_are_not_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "short.csv"
    data.write_text("bench,vm,secs\nlinux,a,10\nlinux,b\n")
    db = tmp_path / "r.db"
    args = ["--format", "csv", "--benchmark-col", "bench", "--profile-col", "vm"]
    assert cli(db, "import", str(data), "--label", "s", *args, "--value-col", "secs") == 2
    assert f"{data}: line 3: no value in column secs" in capsys.readouterr().err
    assert cli(db, "import", "/dev/zero", "--label", "z", "--profile", "p") == 2
    assert "/dev/zero: not a regular file" in capsys.readouterr().err


def import_long(db: Path, rows: list[str], *extra: str) -> None:
    data = db.parent / f"{len(rows)}-{extra}.csv"
    data.write_text("\n".join(["bench,vm,metric,value", *rows]) + "\n")
    args = ["--format", "csv", "--benchmark-col", "bench", "--profile-col", "vm"]
    assert cli(db, "import", str(data), "--label", "u", *args, "--metric-col", "metric",
               "--value-col", "value", *extra) == 0  # fmt: skip


def test_units_convert_or_the_metric_is_refused_with_a_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "r.db"
    import_long(db, ["linux,a,time,10", "linux,a,time,11", "x,a,n,1", "x,a,n,2"], "--unit", "s")
    import_long(db, ["linux,b,time,12000", "linux,b,time,13000"], "--unit", "ms")
    import_long(db, ["x,b,n,1", "x,b,n,2"], "--unit", "furlongs")
    table = compare_json(db, capsys, "u", "--base", "a", "--other", "b")
    (linux,) = table["rows"]
    assert linux["unit"] == "s" and linux["other"]["mean"] == pytest.approx(12.5)
    assert linux["overhead_pct"] == pytest.approx((12.5 / 10.5 - 1) * 100)
    assert table["not_compared"] == [
        "x: n (units differ and cannot be converted: 's' vs 'furlongs')"
    ]


def test_csv_export_escapes_formulas_and_json_is_strict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "r.db"
    import_long(
        db,
        [
            'b,a,"=HYPERLINK(""http://x"")",1',
            'b,a,"=HYPERLINK(""http://x"")",2',
            'b,b,"=HYPERLINK(""http://x"")",2',
            'b,b,"=HYPERLINK(""http://x"")",3',
            "z,a,@zero,0",
            "z,b,@zero,1",
        ],
    )
    capsys.readouterr()
    assert cli(db, "results", "compare", "u", "--base", "a", "--other", "b", "--csv") == 0
    cells = list(csv.reader(capsys.readouterr().out.splitlines()))
    assert cells[1][3] == '\'=HYPERLINK("http://x")' and cells[2][3] == "'@zero"
    table = compare_json(db, capsys, "u", "--base", "a", "--other", "b")
    zero = next(r for r in table["rows"] if r["benchmark"] == "z")
    assert zero["overhead_pct"] is None and zero["change_pct"] is None and zero["reason"]


def test_io_rows_on_different_media_and_busy_repetitions_are_flagged(tmp_path: Path) -> None:
    from sevtui.bench.results import build_comparison
    from sevtui.store.db import Store
    from sevtui.store.rows import RepetitionRecord

    store = Store(tmp_path / "r.db")
    run_id = store.create_run("m", "running", "s", 2, ["host", "demo"])
    for target, medium in (("host", "disk"), ("demo", "ram")):
        store.set_target(run_id, target, "x", {"work_media": medium})
        for rep, busy in ((1, False), (2, target == "demo")):
            for bench, category, value in (("sqlite", "io", 1.0 + rep), ("lz4", "cpu", 2.0)):
                store.record(
                    run_id,
                    RepetitionRecord(
                        target,
                        bench,
                        category,
                        rep,
                        "ok",
                        [Value("time", "s", "lower", value)],
                        busy=busy and bench == "lz4",
                    ),
                )
    table = build_comparison(
        store.series([run_id]), "host", "demo", 3.5, facts=run_facts(store, [run_id])
    )
    flags = {row.benchmark: row.flags for row in table.rows}
    assert flags == {"lz4": ("busy",), "sqlite": ("media",)}
    assert any("io rows compare different media" in w for w in table.warnings)
    assert any("1 repetitions ran while another process" in w for w in table.warnings)
