"""Real documents for the indexing benchmark, read from the shared data folder.

The files stay in ../shared/data/real beside the repository and are only read:
GitHub issues with their comments (English, with code), Russian MultiWOZ
dialogues and SGD banking dialogues (English). Each becomes a SourceDocument
shaped as the change feed delivers issues and conversations.
"""

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from services.rag.documents import DocumentSection, SourceDocument

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real"
ISSUES = REAL / "issues" / "inexbug_npm_github_issues_closed.jsonl"
MULTIWOZ_RU = REAL / "support" / "russian_multiwoz_test_dialogues_001_ru.txt"
SGD_BANKS = REAL / "support" / "sgd_train_dialogues_032_banks.json"
PROJECT = "00000000-0000-0000-0000-00000000be1d"
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def real_documents() -> list[SourceDocument]:
    """Return every issue and dialogue of the three files as documents."""
    return [*_issues(), *_multiwoz(), *_sgd()]


def _document(
    source_type: str, external_id: str, title: str, sections: list[DocumentSection]
) -> SourceDocument:
    return SourceDocument(
        project_id=PROJECT,
        source_type=source_type,
        external_id=external_id,
        title=title,
        url="",
        updated_at=EPOCH,
        deleted=False,
        sections=tuple(sections),
    )


def _section(index: int, role: str, name: str, text: str) -> DocumentSection:
    return DocumentSection(role, name, text, None, str(index))


def _issues() -> Iterator[SourceDocument]:
    with ISSUES.open(encoding="utf-8") as lines:
        for line in lines:
            issue = json.loads(line)
            author = (issue.get("author") or {}).get("username") or ""
            sections = [_section(0, "author", author, issue.get("body") or "")]
            for index, comment in enumerate(issue.get("comments") or [], start=1):
                user = comment.get("user") or comment.get("author") or {}
                name = user.get("username", "") if isinstance(user, dict) else ""
                text = comment.get("body") or ""
                sections.append(_section(index, "commenter", name, text))
            yield _document(
                "linear_issue", str(issue["id"]), issue.get("title") or "", sections
            )


def _multiwoz() -> Iterator[SourceDocument]:
    """Dialogues are separated by blank lines; turns alternate from the customer."""
    text = MULTIWOZ_RU.read_text(encoding="utf-8")
    dialogues = [block for block in text.split("\n\n") if block.strip()]
    for number, block in enumerate(dialogues):
        turns = [turn for turn in block.splitlines() if turn.strip()]
        sections = [
            _section(index, "customer" if index % 2 == 0 else "agent", "", turn)
            for index, turn in enumerate(turns)
        ]
        yield _document(
            "chatwoot_conversation", f"mwoz-{number}", f"Диалог {number}", sections
        )


def _sgd() -> Iterator[SourceDocument]:
    dialogues = json.loads(SGD_BANKS.read_text(encoding="utf-8"))
    for dialogue in dialogues:
        sections = [
            _section(
                index,
                "customer" if turn["speaker"] == "USER" else "agent",
                "",
                turn["utterance"],
            )
            for index, turn in enumerate(dialogue["turns"])
        ]
        yield _document(
            "chatwoot_conversation",
            f"sgd-{dialogue['dialogue_id']}",
            ", ".join(dialogue.get("services") or []),
            sections,
        )
