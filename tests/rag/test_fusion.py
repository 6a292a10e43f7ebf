"""Fusion of the vector and full-text legs into ranked source records."""

import uuid

from services.rag.repository import ChunkHit
from services.rag.retrieval import fuse


def hit(external_id: str, chunk_index: int = 0) -> ChunkHit:
    return ChunkHit(
        chunk_id=uuid.uuid5(uuid.NAMESPACE_OID, f"{external_id}/{chunk_index}"),
        source_type="chatwoot_conversation",
        external_id=external_id,
        chunk_index=chunk_index,
        text="",
        title="",
        url="",
        score=0.0,
    )


def order(legs: dict[str, list[ChunkHit]]) -> list[str]:
    return [source.hit.external_id for source in fuse(legs)]


def test_record_in_both_legs_first() -> None:
    legs = {
        "vector": [hit("a"), hit("both")],
        "fulltext": [hit("b"), hit("both")],
    }
    assert order(legs)[0] == "both"


def test_vector_leg_outweighs_full_text() -> None:
    # Full text cannot match a question asked in another language than the
    # record, so at equal depth the vector leg's hit is the safer one.
    legs = {
        "vector": [hit("v1"), hit("v2")],
        "fulltext": [hit("f1"), hit("f2")],
    }
    assert order(legs) == ["v1", "v2", "f1", "f2"]


def test_record_chunks_become_one_source() -> None:
    legs = {
        "vector": [hit("a", 0), hit("b", 0)],
        "fulltext": [hit("a", 2)],
    }
    sources = fuse(legs)
    assert [s.hit.external_id for s in sources] == ["a", "b"]
    assert sources[0].hit.chunk_index == 0
    assert sources[0].matched_by == {"vector", "fulltext"}
