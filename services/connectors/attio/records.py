"""Attio records as raw rows: only value entries that are still active count.

Every attribute of an Attio record is an array of value entries; an entry
whose `active_until` is set is history, not the current value.
"""

from datetime import datetime
from decimal import Decimal
from typing import Any

from services.common import jsontext
from services.connectors.passes import InvalidRecord
from services.connectors.rawstore import without_nul

JsonObject = dict[str, Any]


def record_id(record: JsonObject) -> str:
    key = record.get("id")
    return str(key.get("record_id") or "") if isinstance(key, dict) else ""


def active(record: JsonObject, attribute: str) -> list[JsonObject]:
    """Return the current entries of an attribute."""
    entries = record["values"].get(attribute) or []
    return [e for e in entries if isinstance(e, dict) and e.get("active_until") is None]


def first_active(record: JsonObject, attribute: str) -> JsonObject:
    """Return the first current entry of an attribute, or an empty one."""
    for entry in record["values"].get(attribute) or ():
        if isinstance(entry, dict) and entry.get("active_until") is None:
            return entry
    return {}


def parse_time(value: Any) -> datetime | None:
    """Parse Attio's nanosecond timestamps, keeping microseconds.

    Python 3.11's fromisoformat reads the trailing Z and drops the digits
    after the sixth of a fraction.
    """
    if not value:
        return None
    return datetime.fromisoformat(str(value))


def _base(record: JsonObject) -> tuple[JsonObject, dict[str, Any]]:
    record, raw = without_nul(record)
    key = record_id(record)
    if not key or not isinstance(record.get("values"), dict):
        raise InvalidRecord(key or "?", f"attio record {key or '?'} lacks id or values")
    try:
        created = parse_time(record.get("created_at"))
    except ValueError as exc:
        raise InvalidRecord(key, f"attio record {key} has a bad created_at") from exc
    return record, {
        "external_id": key,
        "source_created_at": created,
        "content_hash": jsontext.digest(record["values"]),
        "raw": raw,
    }


def company_row(record: JsonObject) -> dict[str, Any]:
    record, row = _base(record)
    row["name"] = str(first_active(record, "name").get("value") or "")
    row["domains"] = [
        str(e["domain"]) for e in active(record, "domains") if e.get("domain")
    ]
    return row


def person_row(record: JsonObject) -> dict[str, Any]:
    record, row = _base(record)
    name = first_active(record, "name")
    row["name"] = str(
        name.get("full_name")
        or " ".join(filter(None, [name.get("first_name"), name.get("last_name")]))
    )
    row["emails"] = [
        str(e["email_address"]).lower()
        for e in active(record, "email_addresses")
        if e.get("email_address")
    ]
    row["company_external_id"] = first_active(record, "company").get("target_record_id")
    return row


def deal_row(record: JsonObject) -> dict[str, Any]:
    record, row = _base(record)
    name = first_active(record, "name").get("value")
    if not name:
        raise InvalidRecord(
            row["external_id"], f"attio deal {row['external_id']} has no name"
        )
    stage = first_active(record, "stage").get("status") or {}
    value = first_active(record, "value")
    amount = value.get("currency_value")
    row.update(
        name=str(name),
        stage=stage.get("title"),
        amount=Decimal(str(amount)) if isinstance(amount, int | float) else None,
        currency=value.get("currency_code"),
        owner_ref=first_active(record, "owner").get("referenced_actor_id"),
        company_external_id=first_active(record, "associated_company").get(
            "target_record_id"
        ),
        people_external_ids=[
            str(e["target_record_id"])
            for e in active(record, "associated_people")
            if e.get("target_record_id")
        ],
    )
    return row
