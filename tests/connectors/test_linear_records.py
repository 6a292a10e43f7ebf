"""Linear issue nodes as raw rows and search documents, without a database."""

import orjson

from services.connectors.linear import records


def _node(**fields: object) -> dict[str, object]:
    node: dict[str, object] = {
        "id": "issue-1",
        "identifier": "ENG-1",
        "title": "Login fails",
        "updatedAt": "2026-01-02T03:04:05Z",
        "createdAt": "2026-01-01T00:00:00Z",
    }
    node.update(fields)
    return node


def _texts(node: dict[str, object]) -> list[str]:
    return [s["text"] for s in records.issue_document(node).sections]


def test_issue_row_raw_json() -> None:
    node = _node(description="Плохо: вход не работает")
    row = records.issue_row(node)
    assert orjson.loads(row["raw"]) == node
    assert row["raw"] == orjson.dumps(node).decode()


def test_issue_row_strips_nul() -> None:
    row = records.issue_row(_node(title="Login\u0000 fails", description="a\u0000b"))
    assert "\\u0000" not in row["raw"]
    assert orjson.loads(row["raw"])["description"] == "ab"
    assert row["title"] == "Login fails"
    assert (
        row["content_hash"]
        == records.issue_row(_node(description="ab"))["content_hash"]
    )


def test_document_strips_markdown_markup() -> None:
    cases = {
        "*starred* at the start": "starred at the start",
        "keep snake_case_name and 2*3*4": "keep snake_case_name and 2*3*4",
        "_under_ and __strong__ and ~~gone~~": "under and strong and gone",
        "![screenshot](a.png) see [the docs](https://x)": "screenshot see the docs",
        "run `npm ci` then ``a ` b``": "run npm ci then a ` b",
        "## Steps\n> quoted line": "Steps\nquoted line",
        "```js\nx = 1\n```": "x = 1",
        "word*not emphasis*": "word*not emphasis*",
    }
    for markdown, expected in cases.items():
        assert _texts(_node(description=markdown)) == [expected], markdown


def test_document_without_markup_is_unchanged() -> None:
    text = "Plain text: 5 > 3, a # sign, and a [bracket] without a link."
    assert _texts(_node(description=text)) == [text]
