"""BM25 statistics of a project's chunks, and the terms a question is ranked by.

ts_rank and ts_rank_cd weigh every word alike, so a chunk repeating "order"
or "please" outranks the one holding the rare word that names the topic.
BM25 weighs each word by its inverse document frequency instead, which needs
the number of chunks holding each lexeme. Those counts live in
rag.term_stats and rag.corpus_stats and are adjusted whenever a document's
chunks are written, so a question reads one row per word.

A natural question OR-ed word by word matches a large share of a big
project through its common words, and scoring every match took seconds at
100,000 chunks. Candidates are therefore the chunks that contain the rarest
words of the question, taken rarest first until their chunk counts reach a
budget. Every word of the question still counts in the score. A chunk that holds only
common words of the question would score low and is left out.
"""

from collections import Counter
from dataclasses import dataclass
from math import log

from services.common.database import Connection

K1 = 1.2
B = 0.75
# The largest number of chunks the rarest words may select as candidates,
# unless the single rarest word alone is in more.
CANDIDATE_CHUNKS = 2000
# The same text search configuration and ё folding as rag_chunks.search_tsv.
# Each row also carries the project's totals, so one round trip reads all.
QUESTION_LEXEMES = (
    "SELECT DISTINCT t.lexeme, coalesce(s.chunks, 0) AS chunks,"
    " coalesce(c.chunks, 0) AS corpus_chunks, coalesce(c.tokens, 0) AS corpus_tokens"
    " FROM unnest(tsvector_to_array(to_tsvector('russian',"
    " translate($2, 'ёЁ', 'еЕ')))) AS t(lexeme)"
    " LEFT JOIN rag.term_stats s ON s.project_id = $1 AND s.lexeme = t.lexeme"
    " LEFT JOIN rag.corpus_stats c ON c.project_id = $1"
)


@dataclass(frozen=True)
class QueryTerms:
    """The words of a question as the full-text leg ranks by them."""

    # A tsquery OR-ing the candidate words; empty when no word occurs.
    match: str
    lexemes: list[str]
    idf: list[float]
    mean_length: float


async def query_terms(conn: Connection, project: object, question: str) -> QueryTerms:
    """Return the question's words with their weights in the project."""
    rows = await conn.fetch(QUESTION_LEXEMES, project, question)
    chunks = int(rows[0]["corpus_chunks"]) if rows else 0
    tokens = int(rows[0]["corpus_tokens"]) if rows else 0
    found = sorted(
        ((row["lexeme"], int(row["chunks"])) for row in rows if row["chunks"] > 0),
        key=lambda item: (item[1], item[0]),
    )
    return QueryTerms(
        match=" | ".join(quote_lexeme(word) for word in candidate_words(found)),
        lexemes=[word for word, _ in found],
        idf=[idf(count, chunks) for _, count in found],
        mean_length=max(tokens / chunks, 1.0) if chunks else 1.0,
    )


def candidate_words(found: list[tuple[str, int]]) -> list[str]:
    """Return the rarest words whose chunk counts fit the candidate budget.

    `found` is sorted rarest first. The rarest word is always taken.
    """
    words: list[str] = []
    total = 0
    for word, count in found:
        if words and total + count > CANDIDATE_CHUNKS:
            break
        words.append(word)
        total += count
    return words


def idf(count: int, chunks: int) -> float:
    """Return the BM25 inverse document frequency of a word in `count` chunks."""
    return log(1 + (max(chunks, count) - count + 0.5) / (count + 0.5))


def quote_lexeme(lexeme: str) -> str:
    """Quote a lexeme as a tsquery operand, so no character acts as an operator."""
    escaped = lexeme.replace("\\", "\\\\").replace("'", "''")
    return f"'{escaped}'"


@dataclass(frozen=True)
class DocumentTerms:
    """The share of one document's chunks in the project's statistics."""

    # Lexeme -> number of the document's chunks holding it.
    lexemes: Counter[str]
    chunks: int
    tokens: int


async def document_terms(
    conn: Connection, project: object, source_type: str, external_id: str
) -> DocumentTerms:
    """Return the statistics of a document's chunks as stored now."""
    rows = await conn.fetch(
        "SELECT t.lexeme, count(*) AS chunks FROM rag.rag_chunks c,"
        " unnest(c.search_tsv) AS t WHERE c.project_id = $1 AND c.source_type = $2"
        " AND c.external_id = $3 GROUP BY t.lexeme",
        project,
        source_type,
        external_id,
    )
    totals = await conn.fetch(
        "SELECT count(*) AS chunks, coalesce(sum(token_count), 0) AS tokens"
        " FROM rag.rag_chunks WHERE project_id = $1 AND source_type = $2"
        " AND external_id = $3",
        project,
        source_type,
        external_id,
    )
    return DocumentTerms(
        Counter({row["lexeme"]: int(row["chunks"]) for row in rows}),
        int(totals[0]["chunks"]),
        int(totals[0]["tokens"]),
    )


async def record_change(
    conn: Connection, project: object, before: DocumentTerms, after: DocumentTerms
) -> None:
    """Move the project's statistics from a document's old chunks to its new ones."""
    delta = Counter(after.lexemes)
    delta.subtract(before.lexemes)
    changed = sorted(word for word, count in delta.items() if count)
    if changed:
        # Sorted, so two writers of one project lock the rows in the same order.
        await conn.execute(
            "INSERT INTO rag.term_stats AS s (project_id, lexeme, chunks)"
            " SELECT $1, u.lexeme, u.delta"
            " FROM unnest($2::text[], $3::int[]) AS u(lexeme, delta)"
            " ORDER BY u.lexeme"
            " ON CONFLICT (project_id, lexeme) DO UPDATE"
            " SET chunks = s.chunks + EXCLUDED.chunks",
            project,
            changed,
            [delta[word] for word in changed],
        )
    if after.chunks != before.chunks or after.tokens != before.tokens:
        await conn.execute(
            "INSERT INTO rag.corpus_stats AS s (project_id, chunks, tokens)"
            " VALUES ($1, $2, $3) ON CONFLICT (project_id) DO UPDATE SET"
            " chunks = s.chunks + EXCLUDED.chunks, tokens = s.tokens + EXCLUDED.tokens",
            project,
            after.chunks - before.chunks,
            after.tokens - before.tokens,
        )


async def rebuild(conn: Connection, project: object) -> None:
    """Count a project's statistics again from its chunks.

    Bulk loads that write chunks without replace_chunks call this afterwards.
    """
    await conn.execute("DELETE FROM rag.term_stats WHERE project_id = $1", project)
    await conn.execute("DELETE FROM rag.corpus_stats WHERE project_id = $1", project)
    await conn.execute(
        "INSERT INTO rag.term_stats (project_id, lexeme, chunks)"
        " SELECT $1, t.lexeme, count(*) FROM rag.rag_chunks c, unnest(c.search_tsv) t"
        " WHERE c.project_id = $1 GROUP BY t.lexeme",
        project,
    )
    await conn.execute(
        "INSERT INTO rag.corpus_stats (project_id, chunks, tokens)"
        " SELECT $1, count(*), coalesce(sum(token_count), 0) FROM rag.rag_chunks"
        " WHERE project_id = $1",
        project,
    )
