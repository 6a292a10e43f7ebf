"""Normalised source documents as the RAG service receives them from the feed."""

from dataclasses import dataclass, field
from datetime import datetime

# Values of DocumentSection.author_role that connectors send today. The chunker
# also accepts other roles and labels them with the capitalised role name.
AUTHOR_ROLES = ("customer", "agent", "bot", "system", "author", "commenter")


@dataclass(frozen=True)
class DocumentSection:
    """One message, comment or description of a document, in plain text."""

    author_role: str
    author_name: str
    text: str
    created_at: datetime | None
    section_id: str


@dataclass(frozen=True)
class SourceDocument:
    """One conversation, issue or deal with its sections in source order."""

    project_id: str
    source_type: str
    external_id: str
    title: str
    url: str
    updated_at: datetime
    deleted: bool
    sections: tuple[DocumentSection, ...]
    metadata: dict[str, str] = field(default_factory=dict)
