"""Records of the fake Chatwoot account: inboxes, agents, contacts, conversations.

Field names follow Chatwoot's database columns. Times are unix seconds, as the
API sends them, and None stands for a NULL column.
"""

from dataclasses import dataclass, field
from typing import Any, Literal

INCOMING = 0
OUTGOING = 1
ACTIVITY = 2
MESSAGE_TYPES = (INCOMING, OUTGOING, ACTIVITY)

STATUSES = ("open", "resolved", "pending", "snoozed")
PRIORITIES = ("low", "medium", "high", "urgent")

SenderType = Literal["contact", "user"]
JsonObject = dict[str, Any]


@dataclass
class Inbox:
    """A channel that conversations arrive through, such as a web widget."""

    id: int
    name: str
    channel_type: str
    channel_id: int


@dataclass
class Agent:
    """A Chatwoot user (an agent) who replies to customers."""

    id: int
    name: str
    email: str
    role: str = "administrator"
    availability_status: str = "online"


@dataclass
class Contact:
    """A customer who writes to the account."""

    id: int
    name: str
    email: str | None
    phone_number: str | None
    identifier: str | None
    created_at: int | None
    last_activity_at: int | None = None
    additional_attributes: JsonObject = field(default_factory=dict)
    custom_attributes: JsonObject = field(default_factory=dict)
    blocked: bool = False
    availability_status: str = "offline"

    @property
    def is_resolved(self) -> bool:
        """Whether contact lists include it: it has an email, phone or identifier."""
        return bool(self.email or self.phone_number or self.identifier)


@dataclass(frozen=True)
class AttachmentSpec:
    """The file of an attachment to add with a message."""

    file_type: str = "image"
    file_name: str = "file.png"
    file_size: int = 20_480
    width: int | None = None
    height: int | None = None
    data_url: str | None = None


@dataclass
class Attachment:
    """A stored file of a message. With data_url None the fake serves the file."""

    id: int
    message_id: int
    file_type: str
    file_name: str
    file_size: int
    width: int | None
    height: int | None
    data_url: str | None

    @property
    def extension(self) -> str | None:
        """The file name extension without the dot, or None when there is none."""
        _, dot, suffix = self.file_name.rpartition(".")
        return suffix if dot and suffix else None


@dataclass
class Message:
    """One message of a conversation, whose conversation_id is the display id."""

    id: int
    conversation_id: int
    inbox_id: int
    message_type: int
    content: str | None
    created_at: int
    updated_at: float
    sender_type: SenderType | None
    sender_id: int | None
    content_type: str = "text"
    private: bool = False
    status: str = "sent"
    source_id: str | None = None
    content_attributes: JsonObject = field(default_factory=dict)
    attachments: list[Attachment] = field(default_factory=list)


@dataclass
class Conversation:
    """A conversation, keyed by its per-account display id."""

    display_id: int
    uuid: str
    inbox_id: int
    contact_id: int
    status: str
    created_at: int
    updated_at: float
    last_activity_at: int
    labels: list[str] = field(default_factory=list)
    assignee_id: int | None = None
    priority: str | None = None
    snoozed_until: str | None = None
    additional_attributes: JsonObject = field(default_factory=dict)
    custom_attributes: JsonObject = field(default_factory=dict)
    agent_last_seen_at: int | None = None
    assignee_last_seen_at: int | None = None
    contact_last_seen_at: int | None = None
    first_reply_created_at: int | None = None
    waiting_since: int | None = None
    messages: list[Message] = field(default_factory=list)

    def last_message(self, *, skip_activity: bool = False) -> Message | None:
        """Return the newest message, optionally the newest non-activity one."""
        for message in reversed(self.messages):
            if not skip_activity or message.message_type != ACTIVITY:
                return message
        return None

    def unread_count(self) -> int:
        """Count incoming messages newer than the time an agent last looked."""
        seen = self.agent_last_seen_at or 0
        return sum(
            1
            for message in self.messages
            if message.message_type == INCOMING and message.created_at > seen
        )
