"""Every query the Linear client sends validates against Linear's published schema."""

from pathlib import Path

import pytest
from graphql import build_schema, parse, validate

from services.connectors.linear import client

SCHEMA = (
    Path(__file__).resolve().parents[3] / "shared" / "specs" / "linear-schema.graphql"
)


@pytest.fixture(scope="module")
def schema():
    return build_schema(SCHEMA.read_text())


@pytest.mark.parametrize(
    "query", [client.ISSUES_QUERY, client.CYCLES_QUERY, client.COMMENTS_QUERY]
)
def test_query_validates_against_the_real_schema(schema, query: str) -> None:
    assert validate(schema, parse(query)) == []


def test_nested_connections_have_an_explicit_small_first() -> None:
    # F06: a nested connection without `first` is charged at 50 per parent.
    assert "labels(first: 20)" in client.ISSUES_QUERY
    assert "comments(first: 20)" in client.ISSUES_QUERY
    assert client.ISSUES_QUERY.count("includeArchived: true") == 1
    assert client.CYCLES_QUERY.count("includeArchived: true") == 1
