"""Indexing speed of the RAG service: chunking, embeddings, and a repeated sync.

Four figures, each the median of the repeats:

1. chunks per second of the product's chunker alone, on real GitHub issues
   and support dialogues, at the default chunk length of the local model;
2. chunks per second through the embeddings job (claim, provider call,
   store) against the fake OpenAI API, which runs as its own process on
   loopback. Settings compared: batch size, batches in flight, how vectors
   are stored, the statement cache and the pool size;
3. the same pipeline with the local multilingual-e5-small model;
4. embedding requests made when a second full sync brings no changed text,
   counted by the fake OpenAI API.

Everything runs against an embedded Postgres under var/bench/indexing. Run
with

    .venv/bin/python -m bench.indexing [--repeat 3]

It prints each figure and saves the section "indexing" through
bench/results.py.
"""

import argparse
import asyncio
import statistics
import sys
from pathlib import Path

from bench import indexing_pipeline as pipeline
from bench import indexing_resync as resync
from bench.indexing_data import real_documents
from bench.results import Figure, Section
from bench.scratch import drop_scratch_databases
from services.common.database import start_embedded_postgres, stop_embedded_postgres
from services.rag import chunking
from services.rag.embedding import LocalE5Provider

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO / "var" / "bench" / "indexing"
COMMAND = ".venv/bin/python -m bench.indexing --repeat {repeat} --pending {pending}"


def measure_chunking(repeat: int, stride: int) -> Figure:
    """Time the chunker alone over every stride-th real document, `repeat` times."""
    documents = real_documents()[::stride]
    tokenizer = chunking.E5Tokenizer()
    rates = [
        pipeline.chunk_rate(documents, tokenizer, chunking.DEFAULT_MAX_TOKENS)
        for _ in range(repeat)
    ]
    return Figure(
        "chunking, default length (160 e5 tokens, 32 overlap)",
        "chunks/s",
        rates,
        note=f"{len(documents)} real documents",
    )


async def measure(repeat: int, pending: int, local_chunks: int, stride: int) -> Section:
    server = start_embedded_postgres(DATA_DIR)
    try:
        return await _measure(server, repeat, pending, local_chunks, stride)
    finally:
        await drop_scratch_databases(server)


async def _measure(
    server: str, repeat: int, pending: int, local_chunks: int, stride: int
) -> Section:
    section = Section(
        name="indexing",
        title="RAG indexing: chunking, embeddings, unchanged re-sync",
        command=COMMAND.format(repeat=repeat, pending=pending),
    )
    section.add(_report(measure_chunking(repeat, stride)))
    with pipeline.FakeOpenAI(DATA_DIR / "logs") as fake:
        for figure in await pipeline.measure_openai(server, fake, repeat, pending):
            section.add(_report(figure))
        section.add(_report(await resync.measure_resync(server, fake, repeat)))
    local = await pipeline.measure_local(
        server, LocalE5Provider(), repeat, local_chunks
    )
    section.add(_report(local))
    section.setup = pipeline.setup_text(pending, local_chunks) + resync.SETUP
    return section


def _report(figure: Figure) -> Figure:
    samples = figure.samples
    line = (
        f"{figure.name}: {statistics.median(samples):,.1f} {figure.unit}"
        f" (min {min(samples):,.1f}, max {max(samples):,.1f})"
    )
    if figure.target:
        line += f", target {figure.target}"
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
    return figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure")
    parser.add_argument(
        "--pending",
        type=int,
        default=20_000,
        help="pending chunks seeded for each OpenAI pipeline run",
    )
    parser.add_argument(
        "--local-chunks",
        type=int,
        default=128,
        help="pending chunks seeded for each local-model run",
    )
    parser.add_argument(
        "--chunk-stride",
        type=int,
        default=5,
        help="chunk every n-th real document for the chunking figure",
    )
    arguments = parser.parse_args()
    try:
        section = asyncio.run(
            measure(
                arguments.repeat,
                arguments.pending,
                arguments.local_chunks,
                arguments.chunk_stride,
            )
        )
    finally:
        stop_embedded_postgres(DATA_DIR)
    sys.stdout.write(f"saved {section.save()}\n")


if __name__ == "__main__":
    main()
