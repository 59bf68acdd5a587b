"""Write a report folder: report.md, report.html, figures/ and tables/.

The folder is created when missing; one that already holds a report is refused unless
the caller says to replace it. Every file goes through the safe output writer.
"""

from __future__ import annotations

from pathlib import Path

from sevtui.base.errors import UsageError
from sevtui.base.outputs import output_folder, write_output
from sevtui.report import document, figures

FIGURE = "figures/overhead"


def write_report(report: document.Report, folder: Path, replace: bool = False) -> list[Path]:
    """Every file of REPORT under FOLDER, in the order written."""
    output_folder(folder)
    if (folder / "report.md").exists() and not replace:
        raise UsageError(
            f"{folder} already holds a report",
            "pass --force to replace it, or name another folder",
        )
    for sub in ("figures", "tables"):
        output_folder(folder / sub)
    series = [figures.BarSeries(t.other, t) for t in report.comparisons.tables]
    written = [
        figures.draw_overhead(series, folder / f"{FIGURE}.pdf"),
        figures.draw_overhead(series, folder / f"{FIGURE}.svg"),
    ]
    svg = (folder / f"{FIGURE}.svg").read_text()
    comparisons = report.comparisons
    texts = {
        "report.md": document.markdown(report, f"{FIGURE}.svg"),
        "report.html": document.to_html(report, svg),
        "tables/metrics.csv": comparisons.to_csv(),
        "tables/benchmarks.csv": document.benchmark_csv(comparisons),
        "tables/categories.csv": document.category_csv(comparisons),
        "tables/system.csv": document.system_csv(report.system),
        "tables/profiles.csv": document.guests_csv(report.system),
        "tables/overhead.tex": document.overhead_tex(comparisons),
    }
    for name, text in texts.items():
        written.append(write_output(folder / name, text.encode(), "report file"))
    return written
