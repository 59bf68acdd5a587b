"""Import of the seed's outputs and the comparison it gives; all-or-nothing imports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sevtui.cli import main
from tests.sysroots import DATA

SEED = DATA / "seed"


def cli(db: Path, *args: str) -> int:
    return main(["--db", str(db), *args])


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    db = tmp_path / "r.db"
    for folder, profile in (("sev", "sev-snp"), ("nosev", "nosev")):
        files = map(str, sorted((SEED / folder).iterdir()))
        assert cli(db, "import", *files, "--label", "seed", "--profile", profile) == 0
    return db


def test_every_seed_value_lands(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert cli(seeded, "results", "list", "--json") == 0
    runs = json.loads(capsys.readouterr().out)
    # 7 tinyben times + 30 mbw + 101 tinymembench + 140 redis values, per profile.
    assert sorted(run["measurements"] for run in runs) == [278, 278]
    assert {run["status"] for run in runs} == {"imported"}


def test_compare_gives_the_seed_overheads(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert (
        cli(seeded, "results", "compare", "seed", "--base", "nosev", "--other", "sev-snp", "--json")
        == 0
    )
    rows = {(r["benchmark"], r["metric"]): r for r in json.loads(capsys.readouterr().out)["rows"]}
    linux = rows[("linux-build", "time")]
    assert linux["base"]["mean"] == 319.93260073661804
    assert linux["other"]["mean"] == 357.29826259613037
    assert round(linux["overhead_pct"], 2) == 11.68
    assert rows[("godot-build", "time")]["overhead_pct"] == pytest.approx(8.6001, abs=1e-4)
    memcpy = rows[("mbw", "MEMCPY")]
    assert memcpy["base"]["n"] == 10 and memcpy["significant"] is True
    assert memcpy["direction"] == "higher" and memcpy["overhead_pct"] > 0
    for key in ("benchmark", "metric", "unit", "direction", "change_pct", "overhead_ci95", "noisy"):
        assert key in linux


def test_compare_markdown_and_csv(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    cli(seeded, "results", "compare", "seed", "--base", "nosev", "--other", "sev-snp", "--markdown")
    markdown = capsys.readouterr().out
    assert "| cpu | linux-build | time |" in markdown and "geometric mean" in markdown
    cli(seeded, "results", "compare", "seed", "--base", "nosev", "--other", "sev-snp", "--csv")
    assert capsys.readouterr().out.startswith("benchmark,category,metric")


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
    from sevtui.store import Measurement

    def m(target: str, value: float) -> Measurement:
        return Measurement(1, target, "b", "cpu", "time", "s", "lower", 0, 0, value)

    steady = [m("a", 10.0), m("a", 10.01), m("b", 11.0), m("b", 11.02)]
    jumpy = [m("a", 10.0), m("a", 14.0), m("b", 11.0), m("b", 11.02)]
    assert build_comparison(steady, "a", "b", 3.5).rows[0].noisy is False
    assert build_comparison(jumpy, "a", "b", 3.5).rows[0].noisy is True
