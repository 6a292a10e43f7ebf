"""Run the fake Linear API as a server: `python -m fakes.linear --api-key K`.

Example, serving the demo workspace and 100 real GitHub issues on port 3002:

    python -m fakes.linear --port 3002 --api-key secret \\
        --data demo --data github-issues --data-dir ../shared/data/real --limit 100
"""

import argparse
from pathlib import Path

import structlog

from fakes.common.server import serve
from fakes.linear import datasets
from fakes.linear.app import DEFAULT_SCHEMA_PATH, create_app
from fakes.linear.store import LinearStore
from services.common.logging import configure_logging

log = structlog.get_logger("fakes.linear")

DEFAULT_DATA_DIR = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "real"
)
GITHUB_ISSUES_FILE = "issues/inexbug_npm_github_issues_closed.jsonl"
DATA_SETS = ("demo", "github-issues")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command-line options that `--help` describes."""
    parser = argparse.ArgumentParser(
        prog="python -m fakes.linear",
        description="Serve a fake Linear GraphQL API filled with test data.",
    )
    _add_server_options(parser)
    _add_data_options(parser)
    return parser.parse_args(argv)


def _add_server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=3002, help="TCP port to listen on (0 picks one)"
    )
    parser.add_argument(
        "--api-key",
        required=True,
        help="the key that requests must send in Authorization, bare or after Bearer",
    )
    parser.add_argument(
        "--schema",
        type=Path,
        default=DEFAULT_SCHEMA_PATH,
        help="Linear's GraphQL SDL file"
        " (default: ../shared/specs/linear-schema.graphql beside the repository)",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level name")


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        action="append",
        choices=DATA_SETS,
        help="data set to load, repeatable (default: demo)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="folder that contains issues/ with the real data file"
        " (default: ../shared/data/real beside the repository)",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="load at most this many GitHub issues",
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the demo data set")


def build_store(args: argparse.Namespace) -> LinearStore:
    """Create a store and load every requested data set into it, in order."""
    store = LinearStore()
    for name in args.data or ["demo"]:
        if name == "demo":
            issue_ids = datasets.generate_demo(store, seed=args.seed)
        else:
            path = args.data_dir / GITHUB_ISSUES_FILE
            if not path.is_file():
                raise SystemExit(
                    f"data file {path} not found; point --data-dir at the folder"
                    " that holds issues/"
                )
            issue_ids = datasets.load_github_issues(store, path, args.limit)
        log.info("fake.data_loaded", data_set=name, issues=len(issue_ids))
    return store


def main(argv: list[str] | None = None) -> None:
    """Load the data, then serve the API until interrupted."""
    args = parse_args(argv)
    configure_logging("linear-fake", level=args.log_level)
    if not args.schema.is_file():
        raise SystemExit(f"schema file {args.schema} not found; pass --schema PATH")
    store = build_store(args)
    app = create_app(store, api_key=args.api_key, schema=args.schema)
    serve(app, args.host, args.port, **store.counts())


if __name__ == "__main__":
    main()
