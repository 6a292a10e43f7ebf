"""Measure retrieval quality: `python -m eval.retrieval [--slice | --full]`.

Builds the evaluation set from the public support data, indexes it with the
rag service's chunking, local embedding model and repository into a new
database, runs every question through four methods and prints recall@10
and nDCG@10 of each. Without `--database-url` it starts the embedded Postgres
under var/eval and stops it at the end. Logs go to standard error.
"""

import argparse
import asyncio
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from eval.dataset import (
    DEFAULT_DATA_DIR,
    DEFAULT_SEED,
    REFERENCE_TIME,
    REPO_ROOT,
    SIZES,
    build_eval_set,
)
from eval.indexing import index_documents, open_rag_pool
from eval.scoring import Report, format_report, score_methods
from services.common.database import start_embedded_postgres, stop_embedded_postgres
from services.common.logging import configure_logging
from services.rag.embedding import LocalE5Provider

EMBEDDED_DATA_DIR = REPO_ROOT / "var" / "eval"
PROJECT_ID = "00000000-0000-0000-0000-0000000e7a11"


@dataclass(frozen=True)
class Evaluation:
    report: Report
    documents: int
    chunks: int
    index_seconds: float
    query_seconds: float


async def evaluate(
    dsn: str, size_name: str, *, data_dir: Path = DEFAULT_DATA_DIR, seed: int
) -> Evaluation:
    """Index the evaluation set into the empty database at dsn and score it."""
    eval_set = build_eval_set(
        SIZES[size_name], project_id=PROJECT_ID, data_dir=data_dir, seed=seed
    )
    provider = LocalE5Provider()
    pool = await open_rag_pool(dsn)
    try:
        started = time.perf_counter()
        index_counts, _ = await index_documents(
            pool, provider, PROJECT_ID, eval_set.documents
        )
        indexed = time.perf_counter()
        report = await score_methods(
            pool,
            provider,
            PROJECT_ID,
            eval_set.questions,
            reference_time=REFERENCE_TIME,
        )
        finished = time.perf_counter()
    finally:
        await pool.close()
    return Evaluation(
        report=report,
        documents=index_counts.documents,
        chunks=index_counts.chunks_created,
        index_seconds=indexed - started,
        query_seconds=finished - indexed,
    )


async def _run_in_new_database(
    server_dsn: str, size_name: str, data_dir: Path, seed: int
) -> Evaluation:
    """Evaluate in a database created for this run and dropped afterwards."""
    name = f"eval_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = urlunsplit(urlsplit(server_dsn)._replace(path=f"/{name}"))
    try:
        return await evaluate(dsn, size_name, data_dir=data_dir, seed=seed)
    finally:
        admin = await asyncpg.connect(server_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command-line options that `--help` describes."""
    parser = argparse.ArgumentParser(
        prog="python -m eval.retrieval",
        description="Print recall@10 and nDCG@10 of vector, full-text, hybrid"
        " and the old system's ranking on the public support data.",
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--slice",
        dest="size",
        action="store_const",
        const="slice",
        help="30 questions over 153 chunks (the default)",
    )
    size.add_argument(
        "--full",
        dest="size",
        action="store_const",
        const="full",
        help="241 questions over 335 conversations (797 chunks)",
    )
    parser.set_defaults(size="slice")
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help=f"seed of every random choice of the set (default {DEFAULT_SEED})",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="folder that contains support/ with the real data files"
        " (default: ../shared/data/real beside the repository)",
    )
    parser.add_argument(
        "--database-url",
        help="maintenance DSN of a Postgres with pgvector 0.8+ where a temporary"
        " database is created; unset: the embedded server under var/eval",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the evaluation and write the tables to standard output."""
    args = parse_args(argv)
    configure_logging("eval", stream=sys.stderr)
    server_dsn = args.database_url or start_embedded_postgres(EMBEDDED_DATA_DIR)
    try:
        evaluation = asyncio.run(
            _run_in_new_database(server_dsn, args.size, args.data_dir, args.seed)
        )
    finally:
        if not args.database_url:
            stop_embedded_postgres(EMBEDDED_DATA_DIR)
    sys.stdout.write(
        f"{args.size} set, seed {args.seed}: {evaluation.documents} conversations,"
        f" {evaluation.chunks} chunks, indexed in {evaluation.index_seconds:.0f} s,"
        f" questions run in {evaluation.query_seconds:.0f} s\n\n"
    )
    sys.stdout.write(format_report(evaluation.report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
