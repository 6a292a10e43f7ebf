"""A REST client for Attio's records: deals, companies and people.

Attio lists records with `POST /v2/objects/{object}/records/query`, paging
values in the JSON body. Records have no update time, so every pass reads
all of them. The walk is keyed on `created_at` (ascending, `$gte` the last
time seen) rather than a growing offset, so records deleted during the walk
cannot shift later ones out of view. The offset only steps past the records
at the boundary time that were already read.
"""

from typing import Any
from urllib.parse import quote

import httpx

from services.connectors.errors import SourceRecordNotFound, SourceResponseInvalid
from services.connectors.http import SourceHttp

JsonObject = dict[str, Any]

PAGE_SIZE = 500


class AttioClient:
    """Reads records of one Attio workspace."""

    def __init__(self, http: SourceHttp, base_url: str) -> None:
        self._http = http
        self._base = base_url.rstrip("/")

    async def query_page(
        self, object_slug: str, created_from: str | None, offset: int, limit: int
    ) -> list[JsonObject]:
        """Return records created at or after created_from, oldest first."""
        body: JsonObject = {
            "sorts": [{"attribute": "created_at", "direction": "asc"}],
            "limit": limit,
            "offset": offset,
        }
        if created_from:
            body["filter"] = {"created_at": {"$gte": created_from}}
        answer = await self._http.request_json(
            "POST",
            f"{self._base}/v2/objects/{object_slug}/records/query",
            json=body,
            check=_check_list,
        )
        return list(answer["data"])

    async def get_record(self, object_slug: str, record_id: str) -> JsonObject | None:
        """Return one record, or None when the object has no such record."""
        path = f"/v2/objects/{object_slug}/records/{quote(record_id, safe='')}"
        try:
            answer = await self._http.request_json(
                "GET",
                f"{self._base}{path}",
                check=_check_single,
            )
        except SourceRecordNotFound:
            return None
        record = dict(answer["data"])
        if record["id"].get("record_id") != record_id:
            raise SourceResponseInvalid(
                f"attio returned record {record['id'].get('record_id')!r}"
                f" when asked for {record_id!r}"
            )
        return record


def _check_list(response: httpx.Response, body: Any) -> None:
    if response.status_code >= 400:
        return
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list) or not all(_is_record(r) for r in data):
        raise SourceResponseInvalid(
            "attio sent a records page that breaks its schema"
            " (data must be a list of records with id, created_at and values)"
        )


def _check_single(response: httpx.Response, body: Any) -> None:
    if response.status_code >= 400:
        return
    if not isinstance(body, dict) or not _is_record(body.get("data")):
        raise SourceResponseInvalid("attio returned a record that breaks its schema")


def _is_record(record: Any) -> bool:
    """True when a record has the parts the API schema marks required."""
    return (
        isinstance(record, dict)
        and isinstance(record.get("id"), dict)
        and isinstance(record.get("values"), dict)
        and "created_at" in record
    )
