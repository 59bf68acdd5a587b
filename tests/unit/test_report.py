"""`sevtui report`: the folder it writes, read back with real parsers, and the system
table built from what runs stored."""

from __future__ import annotations

import csv
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from sevtui.report.document import tex_escape
from sevtui.report.system import NOT_RECORDED, system_table
from sevtui.store.db import Store
from sevtui.store.rows import ProbeRow, RunRow
from tests.unit.conftest import cli


def write(db: Path, out: Path, *extra: str) -> int:
    return cli(
        db, "report", "seed", "--base", "nosev", "--other", "sev-snp", "-o", str(out), *extra
    )


def test_the_seed_report_reproduces_its_linux_overhead(seeded: Path, tmp_path: Path) -> None:
    out = tmp_path / "rep"
    assert write(seeded, out) == 0
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {
        "report.md",
        "report.html",
        "figures/overhead.pdf",
        "figures/overhead.svg",
        "tables/overhead.tex",
        "tables/benchmarks.csv",
        "tables/categories.csv",
        "tables/metrics.csv",
        "tables/system.csv",
        "tables/profiles.csv",
    } <= names
    with (out / "tables/benchmarks.csv").open() as handle:
        linux = next(r for r in csv.DictReader(handle) if r["benchmark"] == "linux-build")
    assert round(float(linux["overhead_pct"]), 2) == 11.68, "the seed's own figure"
    text = (out / "report.md").read_text()
    assert "| linux-build | cpu | +11.68 %" in text
    assert "linux-build & cpu & $+11.7$" in (out / "tables/overhead.tex").read_text()


def test_the_markdown_renders_as_tables_with_the_figure(seeded: Path, tmp_path: Path) -> None:
    out = tmp_path / "rep"
    assert write(seeded, out) == 0
    tokens = MarkdownIt("commonmark").enable("table").parse((out / "report.md").read_text())
    tables = [t for t in tokens if t.type == "table_open"]
    assert len(tables) == 5, "runs, host, profiles, categories, benchmarks (no probes)"
    assert not any(t.type == "blockquote_open" for t in tokens), "no table swallowed by a quote"
    images = [c for t in tokens if t.children for c in t.children if c.type == "image"]
    assert [str(i.attrs["src"]) for i in images] == ["figures/overhead.svg"]
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings[1:] == [
        "System",
        "Method",
        "Overhead relative to nosev, by category",
        "Overhead per benchmark",
        "Memory probes",
        "Warnings",
    ]


class Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append((tag, dict(attrs)))


def test_the_html_is_one_file_that_fetches_nothing(seeded: Path, tmp_path: Path) -> None:
    out = tmp_path / "rep"
    assert write(seeded, out) == 0
    parser = Elements()
    parser.feed((out / "report.html").read_text())
    tags = [tag for tag, _ in parser.seen]
    assert "svg" in tags and "script" not in tags and "link" not in tags and "img" not in tags
    for tag, attrs in parser.seen:
        for name in ("src", "href", "xlink:href"):
            value = attrs.get(name) or ""
            assert not value.startswith(("http:", "https:", "//")), (tag, name, value)
    assert tags.count("table") == 5


def test_an_existing_report_is_kept_unless_forced(
    seeded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "rep"
    assert write(seeded, out) == 0
    (out / "report.md").write_text("my edits\n")
    capsys.readouterr()
    assert write(seeded, out) == 2
    assert "already holds a report" in capsys.readouterr().err
    assert (out / "report.md").read_text() == "my edits\n"
    assert write(seeded, out, "--force") == 0
    assert (out / "report.md").read_text().startswith("# sevtui report: seed")


def test_a_probe_is_reported_with_whether_it_saw_these_runs_qemu(
    seeded: Path, tmp_path: Path
) -> None:
    store = Store(seeded)
    store.record_probe(ProbeRow("sev-snp", "sev-snp", "scan", False, 0, 1 << 30, 2.0, 0.5))
    store.record_probe(ProbeRow("nosev", "nosev", "gcore", True, 3, 1 << 29, 1.0, 0.5))
    store.close()
    out = tmp_path / "rep"
    assert write(seeded, out) == 0
    text = (out / "report.md").read_text()
    assert "| nosev | host can read this guest's memory | gcore | 3 | 536,870,912 |" in text
    assert "| sev-snp | canary not found in plaintext" in text
    assert text.count("no (another QEMU process)") == 2, "imported runs had no QEMU"


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed here")
def test_the_latex_table_compiles(seeded: Path, tmp_path: Path) -> None:
    out = tmp_path / "rep"
    assert write(seeded, out) == 0
    doc = tmp_path / "paper.tex"
    doc.write_text(
        "\\documentclass{article}\\usepackage{booktabs}\\begin{document}"
        f"\\input{{{out / 'tables/overhead.tex'}}}\\end{{document}}\n"
    )
    done = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:]


def test_latex_specials_are_escaped() -> None:
    assert tex_escape("a_b & 5% #1 {x} ~^\\") == (
        r"a\_b \& 5\% \#1 \{x\} \textasciitilde{}\textasciicircum{}\textbackslash{}"
    )


def recorded_run() -> RunRow:
    """A run as a real SEV-SNP host stored it (values written out by hand)."""
    provenance = {
        "host": "milan-1",
        "cpu_model": "AMD EPYC 7763 64-Core Processor",
        "microcode": "0xa0011d1",
        "host_kernel": "6.11.0-snp-host",
        "qemu": "QEMU emulator version 10.0.2",
        "sevtui": "0.1.0",
        "capabilities": {
            "sev_platform": {
                "snp_status": {
                    "api": "1.55",
                    "build": 21,
                    "current_tcb": "0x7308000000000003",
                    "reported_tcb": "0x7308000000000003",
                },
                "kernel_log": {"asid_text": "SEV enabled 100-509 (410), SEV-ES enabled 1-99 (99)"},
            }
        },
        "platform": {
            "memory_bytes": 270582939648,
            "numa_nodes": {"node0": 135291469824, "node1": 135291469824},
            "numa_balancing": 1,
            "smt_control": "on",
            "smt_active": True,
            "thp": "always",
            "vulnerabilities": {
                "spectre_v1": "Mitigation: usercopy/swapgs barriers",
                "spectre_v2": "Mitigation: Retpolines",
                "srso": "Vulnerable: Safe RET, no microcode",
                "meltdown": "Not affected",
            },
        },
    }
    snp = {
        "kind": "sev-snp",
        "policy": 0x30000,
        "accel": "kvm",
        "vcpus": 16,
        "memory": 16 << 30,
        "guest_kernel": "6.11.0",
        "firmware_file": {
            "path": "/usr/share/ovmf/OVMF.amdsev.fd",
            "package": "ovmf-amdsev",
            "package_version": "2025.02-8",
            "sha256": "0123456789abcdef" + "0" * 48,
        },
        "guest_word": {"confirmed_mode": "sev-snp", "confirmed_reason": "boot log"},
        "attestation": {"status": "verified", "reasons": []},
    }
    host = {"kind": "host", "kernel": "6.11.0-snp-host", "cpus": 128, "governor": "performance"}
    return RunRow(
        7,
        "s",
        "done",
        "seed",
        3,
        ["host", "snp"],
        0.0,
        1.0,
        "",
        provenance,
        "",
        {"host": host, "snp": snp},
    )


def test_the_system_table_says_what_the_run_stored() -> None:
    table = system_table([recorded_run()], ["host", "snp", "nosev"])
    host = dict(table.host)
    assert host["Host CPU"] == "AMD EPYC 7763 64-Core Processor (microcode 0xa0011d1)"
    assert host["Host memory"] == "252.0 GiB; 2 NUMA nodes (node0 126.0 GiB, node1 126.0 GiB)"
    assert host["Host config"] == (
        "NUMA balancing on; SMT on (active); THP always; governor performance; "
        "mitigations: 1 vulnerable (srso), 2 mitigated, 1 not affected"
    )
    assert host["QEMU"] == "QEMU emulator version 10.0.2" and host["sevtui"] == "0.1.0"
    assert host["SEV firmware"] == (
        "SNP API 1.55 build 21, TCB 0x7308000000000003 (reported 0x7308000000000003); "
        "ASIDs SEV enabled 100-509 (410), SEV-ES enabled 1-99 (99)"
    )
    guests = {fact: values for fact, values in table.guests}
    assert guests["Kind"] == ["host", "sev-snp", NOT_RECORDED]
    assert guests["Policy"][1].startswith("0x30000: ABI >= 0.0")
    assert guests["Firmware (OVMF)"] == [
        "-",
        "/usr/share/ovmf/OVMF.amdsev.fd, ovmf-amdsev 2025.02-8, sha256 0123456789abcdef...",
        NOT_RECORDED,
    ]
    assert guests["Guest memory"][1] == "16G" and guests["vCPUs"][:2] == ["128", "16"]
    assert guests["Confirmed mode"][1] == "sev-snp (boot log)"
    assert guests["Attestation"][1] == "verified"
