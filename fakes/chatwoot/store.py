"""In-memory data of one fake Chatwoot account, changeable while a sync reads it.

Ids follow Chatwoot: message, contact, agent and inbox ids are database ids
that only grow, and a conversation is known by its per-account display id,
which starts at 1. Every change to a conversation or one of its messages,
except `mark_seen`, raises the conversation's `updated_at`, as Chatwoot's
`touch: true` on `Message belongs_to :conversation` does.

Concurrency: every public method takes `lock`, a reentrant lock. Readers that
walk several records, such as the API handlers, hold `lock` for the whole
read so that a test thread changing data cannot split a response.
"""

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable

from fakes.chatwoot.models import (
    ACTIVITY,
    INCOMING,
    MESSAGE_TYPES,
    OUTGOING,
    PRIORITIES,
    STATUSES,
    Agent,
    Attachment,
    AttachmentSpec,
    Contact,
    Conversation,
    Inbox,
    JsonObject,
    Message,
    SenderType,
)

DELETED_MESSAGE_TEXT = "This message was deleted"
# updated_at must grow on every change, even when two changes share a clock tick.
MIN_TOUCH_STEP_SECONDS = 0.000001


class ChatwootStore:
    """Inboxes, agents, contacts and conversations of one account."""

    def __init__(
        self, *, clock: Callable[[], float] = time.time, first_message_id: int = 1
    ) -> None:
        self.lock = threading.RLock()
        self._clock = clock
        self._inboxes: dict[int, Inbox] = {}
        self._agents: dict[int, Agent] = {}
        self._contacts: dict[int, Contact] = {}
        # Lower-cased emails and identifiers already taken, for uniqueness checks.
        self._contact_keys: set[str] = set()
        self._conversations: dict[int, Conversation] = {}
        self._message_index: dict[int, int] = {}
        self._next_display_id = 1
        self._last_message_id = first_message_id - 1
        self._last_attachment_id = 0

    def now(self) -> float:
        """Return the store clock's current time in unix seconds."""
        return self._clock()

    # Creating records

    def add_inbox(self, name: str, channel_type: str = "Channel::Api") -> Inbox:
        """Create an inbox of channel_type, a Chatwoot class such as Channel::Email."""
        with self.lock:
            inbox_id = len(self._inboxes) + 1
            inbox = Inbox(inbox_id, name, channel_type, channel_id=inbox_id)
            self._inboxes[inbox_id] = inbox
            return inbox

    def ensure_inbox(self, name: str, channel_type: str = "Channel::Api") -> Inbox:
        """Return the inbox called name, creating it when missing."""
        with self.lock:
            for inbox in self._inboxes.values():
                if inbox.name == name:
                    return inbox
            return self.add_inbox(name, channel_type)

    def add_agent(self, name: str, email: str, *, role: str = "administrator") -> Agent:
        """Create an agent, or raise ValueError when the email is taken."""
        with self.lock:
            if self.find_agent(email) is not None:
                raise ValueError(f"agent email {email!r} already exists")
            agent = Agent(len(self._agents) + 1, name, email, role=role)
            self._agents[agent.id] = agent
            return agent

    def ensure_agent(self, name: str, email: str) -> Agent:
        """Return the agent with this email, creating it when missing."""
        with self.lock:
            return self.find_agent(email) or self.add_agent(name, email)

    def add_contact(
        self,
        name: str = "",
        *,
        email: str | None = None,
        phone_number: str | None = None,
        identifier: str | None = None,
        created_at: int | None = None,
        additional_attributes: JsonObject | None = None,
        custom_attributes: JsonObject | None = None,
    ) -> Contact:
        """Create a contact, or raise ValueError if its email or identifier is taken."""
        with self.lock:
            self._check_contact_unique(email, identifier)
            contact = Contact(
                id=len(self._contacts) + 1,
                name=name,
                email=email,
                phone_number=phone_number,
                identifier=identifier,
                created_at=int(self.now()) if created_at is None else created_at,
                additional_attributes=dict(additional_attributes or {}),
                custom_attributes=dict(custom_attributes or {}),
            )
            self._contacts[contact.id] = contact
            self._index_contact(contact)
            return contact

    def add_conversation(
        self,
        contact_id: int,
        *,
        inbox_id: int | None = None,
        status: str = "open",
        labels: Iterable[str] = (),
        created_at: int | None = None,
        assignee_id: int | None = None,
        display_id: int | None = None,
        priority: str | None = None,
        snoozed_until: str | None = None,
        additional_attributes: JsonObject | None = None,
    ) -> Conversation:
        """Create a conversation with no messages and return it.

        inbox_id None uses the first inbox, creating a "Website" inbox when the
        store has none. display_id None takes the next free display id.
        Raises ValueError for an unknown contact, inbox, agent, status or
        priority, or a display id already in use.
        """
        with self.lock:
            self._require_contact(contact_id)
            inbox = self._inbox_or_default(inbox_id)
            self._check_status(status, priority)
            if assignee_id is not None:
                self._require_agent(assignee_id)
            new_id = self._take_display_id(display_id)
            created = int(self.now()) if created_at is None else created_at
            conversation = Conversation(
                display_id=new_id,
                uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"fake-chatwoot:{new_id}")),
                inbox_id=inbox.id,
                contact_id=contact_id,
                status=status,
                created_at=created,
                updated_at=float(created),
                last_activity_at=created,
                labels=list(labels),
                assignee_id=assignee_id,
                priority=priority,
                snoozed_until=snoozed_until if status == "snoozed" else None,
                additional_attributes=dict(additional_attributes or {}),
            )
            self._conversations[new_id] = conversation
            return conversation

    def add_message(
        self,
        display_id: int,
        content: str | None,
        *,
        message_type: int = INCOMING,
        created_at: int | None = None,
        message_id: int | None = None,
        sender_agent_id: int | None = None,
        attachments: Iterable[AttachmentSpec] = (),
        private: bool = False,
        content_type: str = "text",
    ) -> Message:
        """Append a message to a conversation and touch the conversation.

        Incoming messages come from the conversation's contact. Outgoing ones
        come from sender_agent_id, else the assignee, else the first agent.
        Activity messages have no sender. message_id None takes the next id.
        An explicit id must exceed every id given before, so that ids keep
        growing in creation order. Raises ValueError on a broken rule.
        """
        with self.lock:
            conversation = self._require_conversation(display_id)
            if message_type not in MESSAGE_TYPES:
                raise ValueError(f"message_type {message_type} is not 0, 1 or 2")
            sender_type, sender_id = self._sender(
                conversation, message_type, sender_agent_id
            )
            new_id = self._take_message_id(message_id)
            now = self.now()
            created = int(now) if created_at is None else created_at
            message = Message(
                id=new_id,
                conversation_id=display_id,
                inbox_id=conversation.inbox_id,
                message_type=message_type,
                content=content,
                created_at=created,
                updated_at=float(created) if created_at is not None else now,
                sender_type=sender_type,
                sender_id=sender_id,
                content_type=content_type,
                private=private,
            )
            message.attachments = [self._attachment(new_id, s) for s in attachments]
            conversation.messages.append(message)
            self._message_index[new_id] = display_id
            self._record_activity(conversation, message)
            self._touch(conversation, message.updated_at)
            return message

    # Changing records

    def edit_message(
        self, message_id: int, content: str | None, *, at: float | None = None
    ) -> Message:
        """Replace a message's content, keeping its id, and touch the conversation."""
        with self.lock:
            conversation, message = self._require_message(message_id)
            message.content = content
            message.updated_at = self._at(at)
            self._touch(conversation, message.updated_at)
            return message

    def delete_message(self, message_id: int, *, at: float | None = None) -> Message:
        """Delete a message as Chatwoot does: the row stays, marked deleted.

        The content becomes the deletion notice, `content_attributes.deleted`
        becomes true and the attachments go.
        """
        with self.lock:
            conversation, message = self._require_message(message_id)
            message.content = DELETED_MESSAGE_TEXT
            message.content_attributes = {**message.content_attributes, "deleted": True}
            message.attachments = []
            message.updated_at = self._at(at)
            self._touch(conversation, message.updated_at)
            return message

    def set_status(
        self,
        display_id: int,
        status: str,
        *,
        snoozed_until: str | None = None,
        at: float | None = None,
    ) -> Conversation:
        """Change a conversation's status. snoozed_until is an ISO-8601 time or None."""
        with self.lock:
            conversation = self._require_conversation(display_id)
            self._check_status(status, conversation.priority)
            conversation.status = status
            conversation.snoozed_until = snoozed_until if status == "snoozed" else None
            self._touch(conversation, self._at(at))
            return conversation

    def set_labels(
        self, display_id: int, labels: Iterable[str], *, at: float | None = None
    ) -> Conversation:
        """Replace a conversation's labels."""
        with self.lock:
            conversation = self._require_conversation(display_id)
            conversation.labels = list(labels)
            self._touch(conversation, self._at(at))
            return conversation

    def assign(
        self, display_id: int, agent_id: int | None, *, at: float | None = None
    ) -> Conversation:
        """Assign a conversation to an agent, or unassign it with None."""
        with self.lock:
            conversation = self._require_conversation(display_id)
            if agent_id is not None:
                self._require_agent(agent_id)
            conversation.assignee_id = agent_id
            self._touch(conversation, self._at(at))
            return conversation

    def touch(self, display_id: int, *, at: float | None = None) -> Conversation:
        """Raise a conversation's updated_at to at (default now) or just above it."""
        with self.lock:
            conversation = self._require_conversation(display_id)
            self._touch(conversation, self._at(at))
            return conversation

    def mark_seen(
        self,
        display_id: int,
        *,
        agent_at: int | None = None,
        contact_at: int | None = None,
    ) -> None:
        """Set when the agent and the contact last looked, without a touch.

        Chatwoot writes these columns with `update_column`, which skips
        `updated_at`.
        """
        with self.lock:
            conversation = self._require_conversation(display_id)
            if agent_at is not None:
                conversation.agent_last_seen_at = agent_at
                conversation.assignee_last_seen_at = agent_at
            if contact_at is not None:
                conversation.contact_last_seen_at = contact_at

    def update_contact(self, contact_id: int, **changes: object) -> Contact:
        """Set contact attributes by name, e.g. `update_contact(3, email=None)`."""
        with self.lock:
            contact = self._require_contact(contact_id)
            settable = set(vars(contact)) - {"id"}
            unknown = sorted(set(changes) - settable)
            if unknown:
                raise ValueError(f"cannot set contact attributes {unknown}")
            # Take the contact's own keys out, so keeping its email is no clash.
            self._unindex_contact(contact)
            try:
                self._check_contact_unique(
                    _optional_text(changes.get("email", contact.email)),
                    _optional_text(changes.get("identifier", contact.identifier)),
                )
                for name, value in changes.items():
                    setattr(contact, name, value)
            finally:
                self._index_contact(contact)
            return contact

    def delete_conversation(self, display_id: int) -> None:
        """Remove a conversation and its messages, as Chatwoot's hard delete does."""
        with self.lock:
            conversation = self._require_conversation(display_id)
            for message in conversation.messages:
                del self._message_index[message.id]
            del self._conversations[display_id]

    # Reading records

    def mutate(self, rng: random.Random) -> str:
        """Add a customer message to a random conversation, for Churn."""
        with self.lock:
            if not self._conversations:
                return "no conversation to change"
            display_id = rng.choice(sorted(self._conversations))
            self.add_message(display_id, "Any news on my request?")
            return f"added a message to conversation {display_id}"

    def conversations(self) -> list[Conversation]:
        """Return every conversation in display id order."""
        with self.lock:
            return sorted(self._conversations.values(), key=lambda c: c.display_id)

    def get_conversation(self, display_id: int) -> Conversation | None:
        """Return the conversation with this display id, or None."""
        with self.lock:
            return self._conversations.get(display_id)

    def find_message(self, message_id: int) -> Message | None:
        """Return the message with this id, or None."""
        with self.lock:
            if message_id not in self._message_index:
                return None
            return self._require_message(message_id)[1]

    def find_attachment(self, attachment_id: int) -> Attachment | None:
        """Return the attachment with this id, or None."""
        with self.lock:
            for conversation in self._conversations.values():
                for message in conversation.messages:
                    for attachment in message.attachments:
                        if attachment.id == attachment_id:
                            return attachment
            return None

    def contacts(self) -> list[Contact]:
        """Return every contact, resolved or not, in creation order."""
        with self.lock:
            return list(self._contacts.values())

    def get_contact(self, contact_id: int) -> Contact | None:
        """Return the contact with this id, or None."""
        with self.lock:
            return self._contacts.get(contact_id)

    def agents(self) -> list[Agent]:
        """Return every agent in creation order."""
        with self.lock:
            return list(self._agents.values())

    def get_agent(self, agent_id: int) -> Agent | None:
        """Return the agent with this id, or None."""
        with self.lock:
            return self._agents.get(agent_id)

    def find_agent(self, email: str) -> Agent | None:
        """Return the agent with this email (any letter case), or None."""
        with self.lock:
            email_key = email.casefold()
            return next(
                (a for a in self._agents.values() if a.email.casefold() == email_key),
                None,
            )

    def get_inbox(self, inbox_id: int) -> Inbox | None:
        """Return the inbox with this id, or None."""
        with self.lock:
            return self._inboxes.get(inbox_id)

    def contact_inbox_ids(self, contact_id: int) -> list[int]:
        """Return the ids of the inboxes a contact has conversations in."""
        with self.lock:
            found = {
                c.inbox_id: None
                for c in self.conversations()
                if c.contact_id == contact_id
            }
            return list(found)

    def latest_time(self) -> int:
        """Return the newest created_at of any record, or 0 for an empty store."""
        with self.lock:
            times = [c.created_at or 0 for c in self._contacts.values()]
            for conversation in self._conversations.values():
                times.append(conversation.last_activity_at)
                times.append(int(conversation.updated_at))
            return max(times, default=0)

    def counts(self) -> dict[str, int]:
        """Count the records of each kind, for logs and tests."""
        with self.lock:
            return {
                "inboxes": len(self._inboxes),
                "agents": len(self._agents),
                "contacts": len(self._contacts),
                "conversations": len(self._conversations),
                "messages": len(self._message_index),
            }

    # Internals

    def _at(self, at: float | None) -> float:
        return self.now() if at is None else at

    def _touch(self, conversation: Conversation, at: float) -> None:
        conversation.updated_at = max(
            at, conversation.updated_at + MIN_TOUCH_STEP_SECONDS
        )

    def _record_activity(self, conversation: Conversation, message: Message) -> None:
        conversation.last_activity_at = max(
            conversation.last_activity_at, message.created_at
        )
        if message.message_type == INCOMING:
            contact = self._contacts[conversation.contact_id]
            contact.last_activity_at = message.created_at
            if conversation.waiting_since is None:
                conversation.waiting_since = message.created_at
        elif message.message_type == OUTGOING and not message.private:
            if conversation.first_reply_created_at is None:
                conversation.first_reply_created_at = message.created_at
            conversation.waiting_since = None

    def _sender(
        self, conversation: Conversation, message_type: int, agent_id: int | None
    ) -> tuple[SenderType | None, int | None]:
        if message_type == ACTIVITY:
            return None, None
        if message_type == INCOMING:
            return "contact", conversation.contact_id
        chosen = agent_id or conversation.assignee_id or self._first_agent_id()
        if chosen is None:
            raise ValueError(
                "an outgoing message needs an agent, so call add_agent first"
            )
        self._require_agent(chosen)
        return "user", chosen

    def _first_agent_id(self) -> int | None:
        return min(self._agents, default=None)

    def _attachment(self, message_id: int, spec: AttachmentSpec) -> Attachment:
        self._last_attachment_id += 1
        return Attachment(
            id=self._last_attachment_id,
            message_id=message_id,
            file_type=spec.file_type,
            file_name=spec.file_name,
            file_size=spec.file_size,
            width=spec.width,
            height=spec.height,
            data_url=spec.data_url,
        )

    def _take_message_id(self, message_id: int | None) -> int:
        if message_id is None:
            message_id = self._last_message_id + 1
        elif message_id <= self._last_message_id:
            raise ValueError(
                f"message id {message_id} must exceed the last id"
                f" {self._last_message_id}, because ids grow in creation order"
            )
        self._last_message_id = message_id
        return message_id

    def _take_display_id(self, display_id: int | None) -> int:
        if display_id is None:
            display_id = self._next_display_id
        elif display_id < 1 or display_id in self._conversations:
            raise ValueError(f"display id {display_id} is invalid or already in use")
        self._next_display_id = max(self._next_display_id, display_id + 1)
        return display_id

    def _inbox_or_default(self, inbox_id: int | None) -> Inbox:
        if inbox_id is None:
            if not self._inboxes:
                return self.add_inbox("Website", "Channel::WebWidget")
            return self._inboxes[min(self._inboxes)]
        inbox = self._inboxes.get(inbox_id)
        if inbox is None:
            raise ValueError(f"inbox {inbox_id} not found")
        return inbox

    def _check_contact_unique(self, email: str | None, identifier: str | None) -> None:
        if email and f"email:{email.casefold()}" in self._contact_keys:
            raise ValueError(f"contact email {email!r} already exists")
        if identifier and f"identifier:{identifier}" in self._contact_keys:
            raise ValueError(f"contact identifier {identifier!r} already exists")

    def _index_contact(self, contact: Contact) -> None:
        if contact.email:
            self._contact_keys.add(f"email:{contact.email.casefold()}")
        if contact.identifier:
            self._contact_keys.add(f"identifier:{contact.identifier}")

    def _unindex_contact(self, contact: Contact) -> None:
        if contact.email:
            self._contact_keys.discard(f"email:{contact.email.casefold()}")
        if contact.identifier:
            self._contact_keys.discard(f"identifier:{contact.identifier}")

    @staticmethod
    def _check_status(status: str, priority: str | None) -> None:
        if status not in STATUSES:
            raise ValueError(f"status {status!r} is not one of {STATUSES}")
        if priority is not None and priority not in PRIORITIES:
            raise ValueError(f"priority {priority!r} is not one of {PRIORITIES}")

    def _require_conversation(self, display_id: int) -> Conversation:
        conversation = self._conversations.get(display_id)
        if conversation is None:
            raise ValueError(f"conversation {display_id} not found")
        return conversation

    def _require_message(self, message_id: int) -> tuple[Conversation, Message]:
        display_id = self._message_index.get(message_id)
        if display_id is None:
            raise ValueError(f"message {message_id} not found")
        conversation = self._conversations[display_id]
        message = next(m for m in conversation.messages if m.id == message_id)
        return conversation, message

    def _require_contact(self, contact_id: int) -> Contact:
        contact = self._contacts.get(contact_id)
        if contact is None:
            raise ValueError(f"contact {contact_id} not found")
        return contact

    def _require_agent(self, agent_id: int) -> Agent:
        agent = self._agents.get(agent_id)
        if agent is None:
            raise ValueError(f"agent {agent_id} not found")
        return agent


def _optional_text(value: object) -> str | None:
    return str(value) if value else None
