"""Small pieces every route module uses."""

from typing import Any

from fastapi import Request
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from gateway.clients import ServiceClients
from gateway.settings import GatewaySettings

INT64_TYPES = {
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_FIXED64,
    FieldDescriptor.TYPE_SFIXED64,
}


def to_json(message: Message) -> dict[str, Any]:
    """Render a proto message with its field names, default values and numbers.

    The proto JSON mapping writes 64-bit integers as strings; the REST
    contract returns them as JSON numbers, which hold counts exactly up to 2**53.
    An unset timestamp is written as null rather than left out.
    """
    body = MessageToDict(
        message,
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
    )
    _restore_integers(message, body)
    return body


def _restore_integers(message: Message, body: dict[str, Any]) -> None:
    for field in message.DESCRIPTOR.fields:
        name = field.name
        if name not in body:
            if (
                field.message_type is not None
                and field.message_type.name == "Timestamp"
            ):
                body[name] = None
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            if value_field.type in INT64_TYPES:
                body[name] = {key: int(value) for key, value in body[name].items()}
        elif field.type in INT64_TYPES:
            body[name] = (
                [int(v) for v in body[name]]
                if isinstance(body[name], list)
                else int(body[name])
            )
        elif field.message_type is not None and isinstance(body[name], dict):
            _restore_integers(getattr(message, name), body[name])
        elif field.message_type is not None and isinstance(body[name], list):
            for item, item_body in zip(getattr(message, name), body[name], strict=True):
                if isinstance(item_body, dict):
                    _restore_integers(item, item_body)


def clients_of(request: Request) -> ServiceClients:
    clients: ServiceClients = request.app.state.clients
    return clients


def timeout_of(request: Request, *, long: bool = False) -> float:
    settings: GatewaySettings = request.app.state.settings
    return settings.long_rpc_timeout_seconds if long else settings.rpc_timeout_seconds
