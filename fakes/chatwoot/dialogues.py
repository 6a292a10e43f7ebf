"""Dialogues described as data, and their insertion into a store on one timeline.

Loaders describe each conversation as a DialogueSpec and call
`insert_dialogues`. It inserts the messages of all dialogues in time order,
so message ids grow with `created_at` across conversations, as they do in a
real Chatwoot database. Each load starts after the newest record already in
the store, so several loads share one timeline.
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fakes.chatwoot.models import (
    INCOMING,
    OUTGOING,
    AttachmentSpec,
    Contact,
    Conversation,
    JsonObject,
)
from fakes.chatwoot.serializers import iso_time
from fakes.chatwoot.store import ChatwootStore

# Loaded data starts here, a fixed recent date, so that loads are repeatable.
EPOCH = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
# Gap between the previous load's newest record and the next load's first one.
LOAD_GAP_SECONDS = 300
# Status by dialogue index, repeating: mostly resolved, and every status occurs
# once ten dialogues are loaded.
STATUS_CYCLE = (
    "resolved", "open", "resolved", "pending", "resolved",
    "resolved", "snoozed", "resolved", "open", "resolved",
)  # fmt: skip
SNOOZE_SECONDS = 7 * 24 * 3600
RESOLVE_DELAY_SECONDS = 90


@dataclass(frozen=True)
class ContactSpec:
    """A contact to create. Dialogues with the same key share one contact."""

    key: str
    name: str
    email: str | None
    phone_number: str | None = None
    identifier: str | None = None
    additional_attributes: JsonObject = field(default_factory=dict)


@dataclass(frozen=True)
class TurnSpec:
    """One message, sent gap_seconds after the previous one or the start."""

    message_type: int
    content: str | None
    gap_seconds: int
    attachments: tuple[AttachmentSpec, ...] = ()


@dataclass(frozen=True)
class DialogueSpec:
    """A conversation to create, with its messages and final state.

    agent_id sends the outgoing turns, and None leaves the choice to the store.
    inbox_id None takes the inbox given to `insert_dialogues`.
    """

    contact: ContactSpec
    turns: tuple[TurnSpec, ...]
    start: int
    status: str = "open"
    labels: tuple[str, ...] = ()
    agent_id: int | None = None
    assignee_id: int | None = None
    priority: str | None = None
    inbox_id: int | None = None
    additional_attributes: JsonObject = field(default_factory=dict)


def status_for_index(index: int) -> str:
    """Return the status the real-data loaders give the dialogue at index."""
    return STATUS_CYCLE[index % len(STATUS_CYCLE)]


def timeline_start(store: ChatwootStore) -> int:
    """Return when the next load starts: EPOCH, or just after the newest record."""
    latest = store.latest_time()
    return max(EPOCH, latest + LOAD_GAP_SECONDS) if latest else EPOCH


def spaced_starts(
    rng: random.Random, first: int, count: int, gap_range: tuple[int, int]
) -> list[int]:
    """Return count start times from first, with random gaps in gap_range seconds."""
    starts = []
    moment = first
    for _ in range(count):
        starts.append(moment)
        moment += rng.randint(*gap_range)
    return starts


def chat_turns(
    rng: random.Random,
    texts: Sequence[str],
    gap_range: tuple[int, int] = (20, 150),
) -> tuple[TurnSpec, ...]:
    """Make turns that alternate customer and agent, the customer first."""
    return tuple(
        TurnSpec(
            message_type=INCOMING if index % 2 == 0 else OUTGOING,
            content=text,
            gap_seconds=rng.randint(*gap_range),
        )
        for index, text in enumerate(texts)
    )


def insert_dialogues(
    store: ChatwootStore,
    dialogues: Sequence[DialogueSpec],
    *,
    inbox_id: int | None = None,
) -> list[int]:
    """Create the dialogues' contacts, conversations and messages in store.

    Conversations get display ids in start order, and messages are inserted
    in time order across all dialogues. Returns the display ids in the order
    of `dialogues`.
    """
    with store.lock:
        order = sorted(range(len(dialogues)), key=lambda i: dialogues[i].start)
        contacts = _create_contacts(store, [dialogues[i] for i in order])
        conversations: dict[int, Conversation] = {}
        for index in order:
            spec = dialogues[index]
            conversations[index] = _create_conversation(
                store, spec, contacts[spec.contact.key], inbox_id
            )
        _insert_messages(store, dialogues, conversations)
        for index in order:
            _finish(store, dialogues[index], conversations[index])
        return [conversations[i].display_id for i in range(len(dialogues))]


def _create_contacts(
    store: ChatwootStore, dialogues: Sequence[DialogueSpec]
) -> dict[str, Contact]:
    contacts: dict[str, Contact] = {}
    for spec in dialogues:
        contact_spec = spec.contact
        if contact_spec.key in contacts:
            continue
        contacts[contact_spec.key] = store.add_contact(
            contact_spec.name,
            email=contact_spec.email,
            phone_number=contact_spec.phone_number,
            identifier=contact_spec.identifier,
            created_at=spec.start - 60,
            additional_attributes=contact_spec.additional_attributes,
        )
    return contacts


def _create_conversation(
    store: ChatwootStore, spec: DialogueSpec, contact: Contact, inbox_id: int | None
) -> Conversation:
    return store.add_conversation(
        contact.id,
        inbox_id=spec.inbox_id or inbox_id,
        status="open",
        labels=spec.labels,
        created_at=spec.start,
        assignee_id=spec.assignee_id,
        priority=spec.priority,
        additional_attributes=spec.additional_attributes,
    )


def _insert_messages(
    store: ChatwootStore,
    dialogues: Sequence[DialogueSpec],
    conversations: dict[int, Conversation],
) -> None:
    events: list[tuple[int, int, int, TurnSpec]] = []
    for index, spec in enumerate(dialogues):
        moment = spec.start
        for position, turn in enumerate(spec.turns):
            moment += max(turn.gap_seconds, 1)
            events.append((moment, index, position, turn))
    events.sort(key=lambda event: event[:3])
    for moment, index, _, turn in events:
        store.add_message(
            conversations[index].display_id,
            turn.content,
            message_type=turn.message_type,
            created_at=moment,
            sender_agent_id=dialogues[index].agent_id,
            attachments=turn.attachments,
        )


def _finish(
    store: ChatwootStore, spec: DialogueSpec, conversation: Conversation
) -> None:
    display_id = conversation.display_id
    last = conversation.last_activity_at
    # A fixed sub-second part, so that updated_at shows Chatwoot's float precision.
    fraction = (display_id * 7919 % 1_000_000) / 1_000_000
    at = last + RESOLVE_DELAY_SECONDS + fraction
    if spec.status == "open":
        store.touch(display_id, at=last + fraction)
    else:
        snoozed_until = (
            iso_time(last + SNOOZE_SECONDS) if spec.status == "snoozed" else None
        )
        store.set_status(display_id, spec.status, snoozed_until=snoozed_until, at=at)
    _mark_seen(store, conversation)


def _mark_seen(store: ChatwootStore, conversation: Conversation) -> None:
    outgoing = [
        m.created_at for m in conversation.messages if m.message_type == OUTGOING
    ]
    incoming = [
        m.created_at for m in conversation.messages if m.message_type == INCOMING
    ]
    store.mark_seen(
        conversation.display_id,
        agent_at=max(outgoing) if outgoing else None,
        contact_at=max(incoming) if incoming else None,
    )
