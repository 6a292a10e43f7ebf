"""Run the fake Chatwoot API as a server: `python -m fakes.chatwoot --token T`.

Example, serving the demo set and two real dialogue sets on port 3001:

    python -m fakes.chatwoot --port 3001 --token secret --account-id 1 \\
        --data demo --data real-support --data-dir ../shared/data/real --limit 50
"""

import argparse
from collections.abc import Callable
from pathlib import Path

import structlog

from fakes.chatwoot import datasets
from fakes.chatwoot.app import create_app
from fakes.chatwoot.store import ChatwootStore
from fakes.common.server import serve
from services.common.logging import configure_logging

log = structlog.get_logger("fakes.chatwoot")

DEFAULT_DATA_DIR = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "real"
)
SUPPORT_FILES = {
    "banking": "support/sgd_train_dialogues_032_banks.json",
    "multiwoz-ru": "support/russian_multiwoz_test_dialogues_001_ru.txt",
    "multiwoz-en": "support/russian_multiwoz_test_dialogues_001_en.txt",
    "bitext": "support/bitext_customer_support_training.csv",
}
DATA_SETS = ("demo", *SUPPORT_FILES, "real-support")
# --data names that expand to several data sets.
DATA_SET_GROUPS = {"real-support": ("banking", "multiwoz-ru")}

Loader = Callable[[ChatwootStore, Path, int | None], list[int]]
LOADERS: dict[str, Loader] = {
    "banking": datasets.load_banking,
    "multiwoz-ru": datasets.load_multiwoz,
    "multiwoz-en": datasets.load_multiwoz,
    "bitext": datasets.load_bitext,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command-line options that `--help` describes."""
    parser = argparse.ArgumentParser(
        prog="python -m fakes.chatwoot",
        description="Serve a fake Chatwoot Application API filled with test data.",
    )
    _add_server_options(parser)
    _add_data_options(parser)
    return parser.parse_args(argv)


def _add_server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=3001, help="TCP port to listen on (0 picks one)"
    )
    parser.add_argument(
        "--token", required=True, help="the api_access_token that requests must send"
    )
    parser.add_argument(
        "--account-id", type=int, default=1, help="the only account id served"
    )
    parser.add_argument("--log-level", default="INFO", help="logging level name")


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        action="append",
        choices=DATA_SETS,
        help="data set to load, repeatable (default: demo)."
        " real-support loads banking and multiwoz-ru",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="folder that contains support/ with the real data files"
        " (default: ../shared/data/real beside the repository)",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="load at most this many conversations from each real data set",
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the demo data set")


def build_store(args: argparse.Namespace) -> ChatwootStore:
    """Create a store and load every requested data set into it, in order."""
    store = ChatwootStore()
    for name in _expand(args.data or ["demo"]):
        if name == "demo":
            display_ids = datasets.generate_demo(store, seed=args.seed)
        else:
            path = args.data_dir / SUPPORT_FILES[name]
            if not path.is_file():
                raise SystemExit(
                    f"data file {path} not found; point --data-dir at the folder"
                    " that holds support/"
                )
            display_ids = LOADERS[name](store, path, args.limit)
        log.info("fake.data_loaded", data_set=name, conversations=len(display_ids))
    return store


def main(argv: list[str] | None = None) -> None:
    """Load the data, then serve the API until interrupted."""
    args = parse_args(argv)
    configure_logging("chatwoot-fake", level=args.log_level)
    store = build_store(args)
    app = create_app(store, api_token=args.token, account_id=args.account_id)
    serve(app, args.host, args.port, account_id=args.account_id, **store.counts())


def _expand(names: list[str]) -> list[str]:
    expanded: list[str] = []
    for name in names:
        expanded.extend(DATA_SET_GROUPS.get(name, (name,)))
    return expanded


if __name__ == "__main__":
    main()
