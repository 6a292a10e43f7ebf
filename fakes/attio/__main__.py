"""Run the fake Attio API as a server: `python -m fakes.attio --token T`.

Example, serving the first 500 deals of the Maven CRM sample on port 3003:

    python -m fakes.attio --port 3003 --token secret --data maven-crm \\
        --data-dir ../shared/data/real --limit 500
"""

import argparse
from pathlib import Path

import structlog

from fakes.attio import datasets
from fakes.attio.app import create_app
from fakes.attio.store import AttioStore
from fakes.common.server import serve
from services.common.logging import configure_logging

log = structlog.get_logger("fakes.attio")

DEFAULT_DATA_DIR = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "real"
)
DATA_SETS = ("demo", "maven-crm")
# The Maven CSV files sit in this folder under --data-dir.
MAVEN_FOLDER = "crm"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command-line options that `--help` describes."""
    parser = argparse.ArgumentParser(
        prog="python -m fakes.attio",
        description="Serve a fake Attio REST v2 API filled with test data.",
    )
    _add_server_options(parser)
    _add_data_options(parser)
    return parser.parse_args(argv)


def _add_server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=3003, help="TCP port to listen on (0 picks one)"
    )
    parser.add_argument(
        "--token", required=True, help="the bearer token that requests must send"
    )
    parser.add_argument("--log-level", default="INFO", help="logging level name")


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        choices=DATA_SETS,
        default="demo",
        help="data set to load (default: demo)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help=f"folder that contains {MAVEN_FOLDER}/ with the maven_crm_*.csv files"
        " (default: ../shared/data/real beside the repository)",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="load at most this many Maven deals, in file order (default: all)",
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the demo data set")
    parser.add_argument(
        "--show-historic",
        action="store_true",
        help="include inactive (historic) value entries in record responses",
    )


def build_store(args: argparse.Namespace) -> AttioStore:
    """Create a store and load the requested data set into it."""
    store = AttioStore(include_historic=args.show_historic)
    if args.data == "demo":
        counts = datasets.generate_demo(store, seed=args.seed)
    else:
        folder = args.data_dir / MAVEN_FOLDER
        if not (folder / datasets.PIPELINE_FILE).is_file():
            raise SystemExit(
                f"data file {folder / datasets.PIPELINE_FILE} not found; point"
                f" --data-dir at the folder that contains {MAVEN_FOLDER}/"
            )
        counts = datasets.load_maven_crm(store, folder, args.limit)
    log.info("fake.data_loaded", data_set=args.data, **counts)
    return store


def main(argv: list[str] | None = None) -> None:
    """Load the data, then serve the API until interrupted."""
    args = parse_args(argv)
    configure_logging("attio-fake", level=args.log_level)
    store = build_store(args)
    app = create_app(store, api_token=args.token)
    serve(app, args.host, args.port, **store.counts())


if __name__ == "__main__":
    main()
