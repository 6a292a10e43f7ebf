"""Attio records as raw-table rows, without a database."""

from datetime import UTC, datetime

import pytest

from services.connectors.attio import records
from services.connectors.passes import InvalidRecord


def _deal(**values: list[object]) -> dict[str, object]:
    return {
        "id": {"record_id": "deal-1"},
        "created_at": "2024-03-01T09:30:15.123456789Z",
        "values": {"name": [{"value": "Renewal", "active_until": None}], **values},
    }


def test_nanosecond_times_keep_microseconds() -> None:
    assert records.parse_time("2024-03-01T09:30:15.123456789Z") == datetime(
        2024, 3, 1, 9, 30, 15, 123456, tzinfo=UTC
    )
    assert records.parse_time("2024-03-01T09:30:15Z") == datetime(
        2024, 3, 1, 9, 30, 15, tzinfo=UTC
    )
    assert records.parse_time(None) is None


def test_bad_created_at_is_an_invalid_record() -> None:
    deal = _deal()
    deal["created_at"] = "yesterday"
    with pytest.raises(InvalidRecord):
        records.deal_row(deal)


def test_first_current_entry_wins() -> None:
    stage: list[object] = [
        {"status": {"title": "Lead"}, "active_until": "2024-02-01T00:00:00Z"},
        "not an entry",
        {"status": {"title": "Won"}, "active_until": None},
        {"status": {"title": "Lost"}, "active_until": None},
    ]
    row = records.deal_row(_deal(stage=stage))
    assert row["stage"] == "Won"
    assert row["source_created_at"].microsecond == 123456
