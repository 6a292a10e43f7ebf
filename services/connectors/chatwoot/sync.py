"""One Chatwoot sync: contacts, then conversations with every message.

A full sync pages through all conversations; an incremental one requests the
conversations updated since the last successful run (less an overlap). For
each conversation whose `updated_at` differs from the stored one, every
message is read by paging backwards, then the page is written in one
transaction. The cursor is saved only after the last page is committed, so a
crash resumes from the previous cursor and the idempotent upserts absorb the
repeat.
"""

import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import structlog

from services.connectors.chatwoot import records, repository
from services.connectors.chatwoot.client import CONVERSATIONS_PAGE_SIZE, ChatwootClient
from services.connectors.errors import SourceRecordNotFound
from services.connectors.repository import record_success

log = structlog.get_logger(__name__)

JsonObject = dict[str, Any]
Progress = Callable[[dict[str, int]], Awaitable[None]]


class ChatwootSync:
    """Runs one sync of one project's Chatwoot account into the raw tables."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        client: ChatwootClient,
        *,
        project_id: str,
        run_id: str,
        overlap_seconds: float,
        progress: Progress,
    ) -> None:
        self._pool = pool
        self._client = client
        self._project_id = project_id
        self._run_id = run_id
        self._overlap_seconds = overlap_seconds
        self._progress = progress
        self.counts: Counter[str] = Counter()

    async def run(
        self, mode: str, cursor: dict[str, Any], external_ids: list[str]
    ) -> dict[str, Any]:
        """Sync and return the new cursor, which is saved with the last page."""
        started = time.time()
        if mode != "targeted":
            await self._sync_contacts()
        if mode == "targeted":
            await self._sync_targeted(external_ids)
        elif mode == "incremental" and "synced_until" in cursor:
            await self._sync_updated_since(float(cursor["synced_until"]), force=False)
        else:
            await self._sync_all_pages(force=mode == "full")
        new_cursor = dict(cursor) if mode == "targeted" else {"synced_until": started}
        async with self._pool.acquire() as conn:
            await record_success(
                conn, self._project_id, "chatwoot", new_cursor, self._run_id
            )
        return new_cursor

    async def _sync_contacts(self) -> None:
        async for page in self._client.iter_contact_pages():
            cleaned = [self._clean(contact) for contact in page]
            async with self._pool.acquire() as conn, conn.transaction():
                written = await repository.upsert_contacts(
                    conn, self._project_id, cleaned
                )
            self.counts["contacts_seen"] += len(page)
            self.counts["contacts_written"] += written
            await self._progress(dict(self.counts))

    async def _sync_all_pages(self, *, force: bool) -> None:
        async for page in self._client.iter_conversation_pages():
            await self._sync_conversations(page, force=force)

    async def _sync_updated_since(self, synced_until: float, *, force: bool) -> None:
        window = int(time.time() - synced_until + self._overlap_seconds) + 1
        conversations = await self._client.conversations_updated_within(window)
        for start in range(0, len(conversations), CONVERSATIONS_PAGE_SIZE):
            await self._sync_conversations(
                conversations[start : start + CONVERSATIONS_PAGE_SIZE], force=force
            )

    async def _sync_targeted(self, external_ids: list[str]) -> None:
        """Sync the named conversations; ids Chatwoot lacks are marked deleted."""
        conversations, missing = [], []
        for key in external_ids:
            try:
                conversations.append(await self._client.get_conversation(key))
            except SourceRecordNotFound:
                missing.append(key)
        await self._sync_conversations(conversations, force=True)
        async with self._pool.acquire() as conn, conn.transaction():
            deleted = await repository.mark_deleted(conn, self._project_id, missing)
        self.counts["conversations_not_found"] += len(missing)
        self.counts["conversations_deleted"] += deleted

    async def _sync_conversations(self, page: list[JsonObject], *, force: bool) -> None:
        conversations = [self._clean(c) for c in page]
        async with self._pool.acquire() as conn:
            stored = await repository.stored_update_times(
                conn, self._project_id, [str(c["id"]) for c in conversations]
            )
        messages = {}
        for conversation in conversations:
            key = str(conversation["id"])
            if force or stored.get(key) != float(conversation.get("updated_at") or 0):
                fetched = await self._client.list_all_messages(key)
                messages[key] = [self._clean(m) for m in fetched]
        batch = repository.ConversationBatch(conversations, messages)
        async with self._pool.acquire() as conn, conn.transaction():
            written = await repository.save_conversations(conn, self._project_id, batch)
        self.counts.update(written)
        await self._progress(dict(self.counts))

    def _clean(self, record: JsonObject) -> JsonObject:
        cleaned = records.clean(record)
        if cleaned.nul_removed:
            self.counts["nul_characters_removed"] += cleaned.nul_removed
            log.warning(
                "sync.nul_characters_removed",
                run_id=self._run_id,
                record_id=record.get("id"),
                removed=cleaned.nul_removed,
            )
        return cleaned.data
