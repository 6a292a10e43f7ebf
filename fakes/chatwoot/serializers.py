"""Store records rendered as Chatwoot's JSON, one method per Chatwoot view.

Chatwoot renders the same record differently in different places:
- the conversation partial sends times as integer unix seconds with 0 for
  NULL, and `updated_at` as a float;
- a conversation's `messages` and `last_non_activity_message` use the
  message's `push_event_data`, which adds every database column, an ISO
  `updated_at` and the sender's class name as `sender_type`;
- the messages list uses the shorter `_message` partial;
- `attachments` appear only on messages that have any, and `sender` only on
  messages that have a sender.
Field lists follow Chatwoot's jbuilder views at commit 0917e1a6 (2026-01-12).
No output was compared with a running Chatwoot server.
"""

import uuid
from datetime import UTC, datetime

from fakes.chatwoot.models import (
    Agent,
    Attachment,
    Contact,
    Conversation,
    JsonObject,
    Message,
)
from fakes.chatwoot.store import ChatwootStore

# Rails' JSON encoding of a time: ISO 8601 in UTC with milliseconds.
ISO_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"
SENDER_CLASS = {"contact": "Contact", "user": "User"}


def iso_time(seconds: float | None) -> str | None:
    """Format unix seconds as Rails does in JSON, or return None."""
    if seconds is None:
        return None
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    return moment.strftime(ISO_FORMAT)[:-3] + "Z"


def contact_inbox_source_id(contact_id: int, inbox_id: int) -> str:
    """Return the stable made-up source id that links a contact to an inbox."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"fake-chatwoot:{contact_id}:{inbox_id}"))


class Serializer:
    """Renders records of one store for one account and base URL.

    base_url is where the fake serves attachment files that have no data_url.
    Callers hold `store.lock` while rendering.
    """

    def __init__(self, store: ChatwootStore, account_id: int, base_url: str) -> None:
        self._store = store
        self._account_id = account_id
        self._base_url = base_url.rstrip("/")

    def contact(self, contact: Contact, *, with_inboxes: bool = False) -> JsonObject:
        """Render the contact partial, with last_activity_at and created_at if set."""
        body: JsonObject = {
            "additional_attributes": contact.additional_attributes,
            "availability_status": contact.availability_status,
            "email": contact.email,
            "id": contact.id,
            "name": contact.name,
            "phone_number": contact.phone_number,
            "blocked": contact.blocked,
            "identifier": contact.identifier,
            "thumbnail": "",
            "custom_attributes": contact.custom_attributes,
        }
        if contact.last_activity_at is not None:
            body["last_activity_at"] = contact.last_activity_at
        if contact.created_at is not None:
            body["created_at"] = contact.created_at
        if with_inboxes:
            body["contact_inboxes"] = self._contact_inboxes(contact.id)
        return body

    def contact_event(self, contact: Contact) -> JsonObject:
        """Render a contact's push_event_data, the sender shape of messages."""
        return {
            "additional_attributes": contact.additional_attributes,
            "custom_attributes": contact.custom_attributes,
            "email": contact.email,
            "id": contact.id,
            "identifier": contact.identifier,
            "name": contact.name,
            "phone_number": contact.phone_number,
            "thumbnail": "",
            "blocked": contact.blocked,
            "type": "contact",
        }

    def agent(self, agent: Agent) -> JsonObject:
        """Render the agent partial, used as a conversation's meta.assignee."""
        return {
            "id": agent.id,
            "account_id": self._account_id,
            "availability_status": agent.availability_status,
            "auto_offline": True,
            "confirmed": True,
            "email": agent.email,
            "provider": "email",
            "available_name": agent.name,
            "name": agent.name,
            "role": agent.role,
            "thumbnail": "",
        }

    def agent_event(self, agent: Agent) -> JsonObject:
        """Render a user's push_event_data, the sender shape of agent messages."""
        return {
            "id": agent.id,
            "name": agent.name,
            "available_name": agent.name,
            "avatar_url": "",
            "type": "user",
            "availability_status": agent.availability_status,
            "thumbnail": "",
        }

    def attachment(self, attachment: Attachment) -> JsonObject:
        """Render an attachment's push_event_data."""
        data_url = attachment.data_url or self.attachment_url(attachment)
        return {
            "id": attachment.id,
            "message_id": attachment.message_id,
            "file_type": attachment.file_type,
            "account_id": self._account_id,
            "extension": attachment.extension,
            "data_url": data_url,
            "thumb_url": data_url if attachment.file_type == "image" else "",
            "file_size": attachment.file_size,
            "width": attachment.width,
            "height": attachment.height,
        }

    def attachment_url(self, attachment: Attachment) -> str:
        """Return the URL where this fake serves an attachment's placeholder file."""
        return (
            f"{self._base_url}/rails/active_storage/blobs/redirect/"
            f"{attachment.id}/{attachment.file_name}"
        )

    def message(self, message: Message) -> JsonObject:
        """Render the `_message` partial that the messages list sends."""
        body: JsonObject = {
            "id": message.id,
            "content": message.content,
            "inbox_id": message.inbox_id,
            "conversation_id": message.conversation_id,
            "message_type": message.message_type,
            "content_type": message.content_type,
            "status": message.status,
            "content_attributes": message.content_attributes,
            "created_at": message.created_at,
            "private": message.private,
            "source_id": message.source_id,
        }
        sender = self._sender(message)
        if sender is not None:
            body["sender"] = sender
        if message.attachments:
            body["attachments"] = [self.attachment(a) for a in message.attachments]
        return body

    def message_event(self, conversation: Conversation, message: Message) -> JsonObject:
        """Render a message's push_event_data, as in a conversation's `messages`."""
        body: JsonObject = {
            "id": message.id,
            "content": message.content,
            "account_id": self._account_id,
            "inbox_id": message.inbox_id,
            "conversation_id": message.conversation_id,
            "message_type": message.message_type,
            "created_at": message.created_at,
            "updated_at": iso_time(message.updated_at),
            "private": message.private,
            "status": message.status,
            "source_id": message.source_id,
            "content_type": message.content_type,
            "content_attributes": message.content_attributes,
            "sender_type": SENDER_CLASS.get(message.sender_type or ""),
            "sender_id": message.sender_id,
            "external_source_ids": {},
            "additional_attributes": {},
            "processed_message_content": message.content,
            "sentiment": {},
            "conversation": self._conversation_brief(conversation),
        }
        if message.attachments:
            body["attachments"] = [self.attachment(a) for a in message.attachments]
        sender = self._sender(message)
        if sender is not None:
            body["sender"] = sender
        return body

    def conversation(self, conversation: Conversation) -> JsonObject:
        """Render the conversation partial of the list and show endpoints."""
        last = conversation.last_message()
        last_chat = conversation.last_message(skip_activity=True)
        return {
            "meta": self._conversation_meta(conversation),
            "id": conversation.display_id,
            "messages": [self.message_event(conversation, last)] if last else [],
            "account_id": self._account_id,
            "uuid": conversation.uuid,
            "additional_attributes": conversation.additional_attributes,
            "agent_last_seen_at": conversation.agent_last_seen_at or 0,
            "assignee_last_seen_at": conversation.assignee_last_seen_at or 0,
            "can_reply": True,
            "contact_last_seen_at": conversation.contact_last_seen_at or 0,
            "custom_attributes": conversation.custom_attributes,
            "inbox_id": conversation.inbox_id,
            "labels": list(conversation.labels),
            "muted": False,
            "snoozed_until": conversation.snoozed_until,
            "status": conversation.status,
            "created_at": conversation.created_at,
            "updated_at": conversation.updated_at,
            "timestamp": conversation.last_activity_at,
            "first_reply_created_at": conversation.first_reply_created_at or 0,
            "unread_count": conversation.unread_count(),
            "last_non_activity_message": (
                self.message_event(conversation, last_chat) if last_chat else None
            ),
            "last_activity_at": conversation.last_activity_at,
            "priority": conversation.priority,
            "waiting_since": conversation.waiting_since or 0,
            "sla_policy_id": None,
        }

    def messages_meta(self, conversation: Conversation) -> JsonObject:
        """Render the `meta` object of the messages list."""
        contact = self._store.get_contact(conversation.contact_id)
        assert contact is not None
        meta: JsonObject = {
            "labels": list(conversation.labels),
            "additional_attributes": conversation.additional_attributes,
            "contact": self.contact_event(contact),
        }
        assignee = self._assignee(conversation)
        if assignee is not None:
            meta["assignee"] = self.agent_event(assignee)
        meta["agent_last_seen_at"] = iso_time(conversation.agent_last_seen_at)
        meta["assignee_last_seen_at"] = iso_time(conversation.assignee_last_seen_at)
        return meta

    def _conversation_meta(self, conversation: Conversation) -> JsonObject:
        contact = self._store.get_contact(conversation.contact_id)
        inbox = self._store.get_inbox(conversation.inbox_id)
        assert contact is not None
        assert inbox is not None
        meta: JsonObject = {
            "sender": self.contact(contact),
            "channel": inbox.channel_type,
        }
        assignee = self._assignee(conversation)
        if assignee is not None:
            meta["assignee"] = self.agent(assignee)
            # NOTE: the fake sends assignee_type only with an assignee. Whether
            # Chatwoot also sends it for unassigned conversations is unconfirmed.
            meta["assignee_type"] = "User"
        meta["hmac_verified"] = False
        return meta

    def _conversation_brief(self, conversation: Conversation) -> JsonObject:
        return {
            "assignee_id": conversation.assignee_id,
            "unread_count": conversation.unread_count(),
            "last_activity_at": conversation.last_activity_at,
            "contact_inbox": {
                "source_id": contact_inbox_source_id(
                    conversation.contact_id, conversation.inbox_id
                )
            },
        }

    def _contact_inboxes(self, contact_id: int) -> list[JsonObject]:
        rendered = []
        for inbox_id in self._store.contact_inbox_ids(contact_id):
            inbox = self._store.get_inbox(inbox_id)
            assert inbox is not None
            rendered.append(
                {
                    "source_id": contact_inbox_source_id(contact_id, inbox_id),
                    "inbox": {
                        "id": inbox.id,
                        "avatar_url": "",
                        "channel_id": inbox.channel_id,
                        "name": inbox.name,
                        "channel_type": inbox.channel_type,
                        "provider": None,
                    },
                }
            )
        return rendered

    def _sender(self, message: Message) -> JsonObject | None:
        if message.sender_type == "contact" and message.sender_id is not None:
            contact = self._store.get_contact(message.sender_id)
            return self.contact_event(contact) if contact else None
        if message.sender_type == "user" and message.sender_id is not None:
            agent = self._store.get_agent(message.sender_id)
            return self.agent_event(agent) if agent else None
        return None

    def _assignee(self, conversation: Conversation) -> Agent | None:
        if conversation.assignee_id is None:
            return None
        return self._store.get_agent(conversation.assignee_id)
