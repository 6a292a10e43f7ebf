"""Linear issue and cycle nodes as raw rows and search documents."""

from datetime import datetime
from typing import Any

from services.common import jsontext
from services.common.text import strip_markdown, strip_nul_json
from services.connectors.documents import SourceDocument, section
from services.connectors.passes import InvalidRecord
from services.connectors.rawstore import without_nul

JsonObject = dict[str, Any]
SOURCE_TYPE = "linear_issue"


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def content_hash(node: JsonObject) -> str:
    return jsontext.digest(node)


def is_hidden(node: JsonObject) -> bool:
    """True for archived or trashed issues, which stay raw but leave the index."""
    return bool(node.get("archivedAt") or node.get("trashed"))


def _require(node: JsonObject, *fields: str) -> str:
    key = str(node.get("id") or node.get("identifier") or "?")
    missing = [name for name in fields if node.get(name) in (None, "")]
    if missing:
        raise InvalidRecord(key, f"linear record {key} lacks {', '.join(missing)}")
    try:
        parse_time(node["updatedAt"])
        parse_time(node.get("createdAt"))
    except ValueError as exc:
        raise InvalidRecord(key, f"linear record {key} has a bad time: {exc}") from exc
    return key


def issue_row(node: JsonObject) -> dict[str, Any]:
    """Return the raw-table row of an issue, or raise InvalidRecord."""
    node, raw = without_nul(node)
    key = _require(node, "id", "identifier", "title", "updatedAt")
    state = node.get("state") or {}
    comments = (node.get("comments") or {}).get("nodes") or []
    return {
        "external_id": key,
        "identifier": str(node["identifier"]),
        "title": str(node["title"]),
        "state_name": state.get("name"),
        "state_type": state.get("type"),
        "team_key": (node.get("team") or {}).get("key"),
        "project_name": (node.get("project") or {}).get("name"),
        "cycle_number": _int((node.get("cycle") or {}).get("number")),
        "priority": node.get("priority"),
        "assignee_name": (node.get("assignee") or {}).get("name"),
        "comment_count": len(comments),
        "source_created_at": parse_time(node.get("createdAt")),
        "source_updated_at": parse_time(node["updatedAt"]),
        "archived_at": parse_time(node.get("archivedAt")),
        "trashed": bool(node.get("trashed")),
        "content_hash": content_hash(node),
        "raw": raw,
    }


def cycle_row(node: JsonObject) -> dict[str, Any]:
    """Return the raw-table row of a cycle, or raise InvalidRecord."""
    node, raw = without_nul(node)
    key = _require(node, "id", "number", "updatedAt")
    return {
        "external_id": key,
        "team_key": (node.get("team") or {}).get("key"),
        "number": _int(node["number"]),
        "name": node.get("name"),
        "starts_at": parse_time(node.get("startsAt")),
        "ends_at": parse_time(node.get("endsAt")),
        "completed_at": parse_time(node.get("completedAt")),
        "source_updated_at": parse_time(node["updatedAt"]),
        "archived_at": parse_time(node.get("archivedAt")),
        "content_hash": content_hash(node),
        "raw": raw,
    }


def issue_document(node: JsonObject) -> SourceDocument:
    """Build the searchable document of an issue: title, description, comments."""
    node, _ = strip_nul_json(node)
    creator = (node.get("creator") or {}).get("name") or ""
    sections = []
    description = strip_markdown(str(node.get("description") or "")).strip()
    if description:
        created = parse_time(node.get("createdAt"))
        sections.append(section("description", "author", creator, description, created))
    for comment in (node.get("comments") or {}).get("nodes") or []:
        text = strip_markdown(str(comment.get("body") or "")).strip()
        if text:
            author = (comment.get("user") or {}).get("name") or ""
            created = parse_time(comment.get("createdAt"))
            sections.append(
                section(str(comment["id"]), "commenter", author, text, created)
            )
    labels = [
        str(label.get("name"))
        for label in (node.get("labels") or {}).get("nodes") or []
    ]
    metadata = {
        "identifier": str(node["identifier"]),
        "state": str((node.get("state") or {}).get("name") or ""),
        "team": str((node.get("team") or {}).get("key") or ""),
        "priority": str(node.get("priorityLabel") or ""),
        "labels": ",".join(labels),
        "project": str((node.get("project") or {}).get("name") or ""),
    }
    updated = parse_time(node["updatedAt"])
    assert updated is not None
    return SourceDocument(
        source_type=SOURCE_TYPE,
        external_id=str(node["id"]),
        title=f"{node['identifier']} {node['title']}",
        url=str(node.get("url") or ""),
        updated_at=updated,
        sections=sections,
        metadata=metadata,
    )


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) else None
