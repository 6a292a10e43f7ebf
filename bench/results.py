"""Figures measured by the benchmarks, saved as JSON for the report.

Each benchmark module measures its figures and saves them under
var/bench/results/<name>.json; bench/report.py turns every saved file into
the tables of BENCHMARKS.md. A figure keeps all its samples, so the report
shows the median and the spread of the repeated runs.
"""

import json
import statistics
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "var" / "bench" / "results"


@dataclass(frozen=True)
class Figure:
    """One measured quantity with its repeated samples."""

    name: str
    unit: str
    samples: list[float]
    # A target such as ">= 5000" or "<= 50"; empty when the figure has none.
    target: str = ""
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def met(self) -> bool | None:
        """Whether the median meets the target; None without a target."""
        if not self.target:
            return None
        sign, bound = self.target.split()
        value = float(bound)
        return self.median >= value if sign == ">=" else self.median <= value


@dataclass
class Section:
    """The figures of one benchmark, with the command that measured them."""

    name: str
    title: str
    command: str
    figures: list[Figure] = field(default_factory=list)
    # What was measured on what: data sizes, settings, processes.
    setup: str = ""
    measured_at: str = field(
        default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    )

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    def save(self, directory: Path = RESULTS) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.name}.json"
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path


def load(path: Path) -> Section:
    data = json.loads(path.read_text())
    figures = [Figure(**figure) for figure in data.pop("figures")]
    return Section(**data, figures=figures)


def percentile(values: list[float], share: float) -> float:
    """Return the value below which `share` of the values lie (nearest rank)."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(share * len(ordered)) - 1))
    return ordered[rank]
