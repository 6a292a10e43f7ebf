"""Command line: `python -m fakes.openai --port N --api-key K --dimension D`.

Add `--vector-mode hash` for cheap vectors in load tests.
"""

import argparse
from collections.abc import Sequence

import uvicorn

from fakes.openai.app import create_app
from fakes.openai.server import HOST
from fakes.openai.vectors import VECTOR_MODES


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the fake OpenAI API on 127.0.0.1 until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m fakes.openai",
        description="Serve a fake of OpenAI's embeddings and chat API on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, required=True, help="TCP port to listen on")
    parser.add_argument(
        "--api-key",
        required=True,
        help="API key that clients must send as Bearer token",
    )
    parser.add_argument(
        "--dimension",
        type=int,
        default=1536,
        help="vector length when a request does not set dimensions (default 1536)",
    )
    parser.add_argument(
        "--vector-mode",
        choices=VECTOR_MODES,
        default="words",
        help=(
            "how vectors are made: words (default) gives texts that share words"
            " similar vectors; hash picks them by a hash of the text, which is"
            " much cheaper, for load tests"
        ),
    )
    args = parser.parse_args(argv)
    app = create_app(
        api_key=args.api_key, dimension=args.dimension, vector_mode=args.vector_mode
    )
    uvicorn.run(app, host=HOST, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
