"""The benchmark report: figures rebuilt between the markers, prose kept."""

from pathlib import Path

from bench import report
from bench.results import Figure, Section, percentile


def test_targets_are_judged_on_the_median() -> None:
    assert Figure("rate", "records/s", [4000, 6000, 5500], ">= 5000").met is True
    assert Figure("rate", "records/s", [4000, 6000, 4500], ">= 5000").met is False
    assert Figure("latency", "ms", [40, 60, 55], "<= 50").met is False
    assert Figure("latency", "ms", [40, 60, 55]).met is None


def test_percentile_takes_the_nearest_rank() -> None:
    values = [float(value) for value in range(1, 101)]
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.95) == 95
    assert percentile([7.0], 0.95) == 7


def test_report_rebuilds_the_figures_and_keeps_the_prose(tmp_path: Path) -> None:
    results = tmp_path / "results"
    section = Section("gateway", "Gateway", ".venv/bin/python -m bench.gateway")
    section.add(Figure("added latency", "ms", [1.5, 2.5, 3.0], "<= 2"))
    section.add(Figure("requests", "requests/s", [1200, 1100, 1300], ">= 1000"))
    section.save(results)
    target = tmp_path / "BENCHMARKS.md"
    target.write_text(
        f"# Benchmarks\n\nTuning notes.\n\n{report.START}\nold figures\n"
        f"{report.END}\n\nShortfalls.\n"
    )

    report.write(target, results)

    text = target.read_text()
    assert "old figures" not in text
    assert text.startswith("# Benchmarks\n\nTuning notes.\n")
    assert text.endswith("Shortfalls.\n")
    assert "| added latency | 2.50 ms | 1.50–3.00 | 3 | <= 2 ms | **missed** |" in text
    assert (
        "| requests | 1,200 requests/s | 1,100–1,300 | 3 | >= 1000 requests/s | met |"
        in text
    )
    assert "`.venv/bin/python -m bench.gateway`" in text
