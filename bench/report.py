"""Write the measured figures into BENCHMARKS.md.

The tables between the two marker lines of BENCHMARKS.md are rebuilt from
every section saved under var/bench/results; the prose around them, which
records what was tuned and what falls short, is kept as it is. Run with

    .venv/bin/python -m bench.report
"""

import os
import platform
import re
from pathlib import Path

from bench.results import REPO, RESULTS, Figure, Section, load

REPORT = REPO / "BENCHMARKS.md"
START = "<!-- figures: start (written by bench/report.py) -->"
END = "<!-- figures: end -->"
# Sections in the order of the report; any others follow by name.
ORDER = (
    "ingestion",
    "ingestion_http",
    "indexing",
    "retrieval_100k",
    "retrieval_1000k",
    "gateway",
    "reconcile",
)


def machine() -> str:
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        cpu = found.group(1).strip() if found else cpu
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB memory,"
        f" {platform.system()} {platform.release()},"
        f" Python {platform.python_version()}"
    )


def _number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _row(figure: Figure) -> str:
    spread = f"{_number(min(figure.samples))}–{_number(max(figure.samples))}"
    verdict = {None: "", True: "met", False: "**missed**"}[figure.met]
    target = f"{figure.target} {figure.unit}" if figure.target else ""
    return (
        f"| {figure.name} | {_number(figure.median)} {figure.unit} | {spread}"
        f" | {len(figure.samples)} | {target} | {verdict} |"
    )


def render(section: Section) -> str:
    lines = [
        f"### {section.title}",
        "",
        f"Measured {section.measured_at} with `{section.command}`.",
        "",
    ]
    if section.setup:
        lines += [section.setup, ""]
    lines += [
        "| Figure | Median | Spread (min–max) | Runs | Target | |",
        "|---|---|---|---|---|---|",
        *(_row(figure) for figure in section.figures),
        "",
    ]
    return "\n".join(lines)


def sections(directory: Path = RESULTS) -> list[Section]:
    found = {path.stem: load(path) for path in sorted(directory.glob("*.json"))}
    rank = {name: index for index, name in enumerate(ORDER)}
    names = sorted(found, key=lambda name: (rank.get(name, len(ORDER)), name))
    return [found[name] for name in names]


def figures_block(directory: Path = RESULTS) -> str:
    body = "\n".join(render(section) for section in sections(directory))
    return f"{START}\n\nMachine: {machine()}.\n\n{body}\n{END}"


def write(report: Path = REPORT, directory: Path = RESULTS) -> None:
    text = (
        report.read_text() if report.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    )
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    report.write_text(head + figures_block(directory) + tail)


if __name__ == "__main__":
    write()
