"""Checks on the external ids that callers pass to syncs and lookups.

Ids end up in source URLs and in messages, so an id must be short printable
text without URL syntax: a `/`, `?`, `#`, `%` or `..` in an id could address
another resource of the source. Chatwoot ids are conversation numbers.
"""

from services.connectors.errors import InvalidExternalId

MAX_LENGTH = 200
FORBIDDEN = ("/", "?", "#", "%", "\\", "..")


def shown(value: str, limit: int = 60) -> str:
    """Return value quoted for a message, shortened when long."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def check(connector: str, value: str) -> str:
    """Return the id stripped of outer spaces, or raise InvalidExternalId."""
    key = value.strip()
    if not key:
        raise InvalidExternalId("external ids must not be blank")
    if len(key) > MAX_LENGTH:
        raise InvalidExternalId(
            f"external id {shown(key)} has {len(key)} characters;"
            f" the maximum is {MAX_LENGTH}"
        )
    if not key.isprintable() or any(c.isspace() for c in key):
        raise InvalidExternalId(
            f"external ids must be printable text without spaces; rejected {shown(key)}"
        )
    if any(part in key for part in FORBIDDEN):
        raise InvalidExternalId(
            f"external id {shown(key)} contains one of {' '.join(FORBIDDEN)}"
        )
    if connector == "chatwoot" and not key.isdigit():
        raise InvalidExternalId(
            f"chatwoot ids are conversation numbers; rejected {shown(key)}"
        )
    return key
