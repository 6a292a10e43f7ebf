"""Run every benchmark, one after another, then write BENCHMARKS.md.

Each benchmark runs in its own process, so one's memory and event loop do
not colour the next one's figures. Run with

    .venv/bin/python -m bench.run [ingestion indexing ...]

which is what `make bench` does; naming benchmarks runs only those, and the
report still shows the figures saved earlier by the others.
"""

import subprocess
import sys

from bench import report
from bench.results import REPO

BENCHMARKS = {
    "ingestion": ["-m", "bench.ingestion"],
    "ingestion_http": ["-m", "bench.connector_sync"],
    "indexing": ["-m", "bench.indexing"],
    "retrieval": ["-m", "bench.retrieval"],
    "gateway": ["-m", "bench.gateway"],
    "reconcile": ["-m", "bench.reconcile_million"],
}


def main(names: list[str]) -> None:
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        sys.exit(
            f"unknown benchmarks: {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}"
        )
    for name in names or list(BENCHMARKS):
        sys.stdout.write(f"== {name}\n")
        sys.stdout.flush()
        subprocess.run([sys.executable, *BENCHMARKS[name]], cwd=REPO, check=True)
    report.write()
    sys.stdout.write(f"wrote {report.REPORT}\n")


if __name__ == "__main__":
    main(sys.argv[1:])
