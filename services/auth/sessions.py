"""Session tokens, their CSRF tokens and expiry rules.

The client keeps the session token. The database stores only its SHA-256, so
a copy of the sessions table does not let anyone act as a logged-in user.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

TOKEN_BYTES = 32
# Longer tokens cannot have come from new_session_token, so they are rejected
# before any hashing or lookup.
MAX_TOKEN_CHARS = 128
# ResolveSession writes last_seen_at at most this often, so a busy session
# costs one write a minute instead of one per request.
TOUCH_INTERVAL = timedelta(minutes=1)
# Prefixed to the HMAC input to keep CSRF tokens distinct from any other value
# that may later be derived from the same key.
_CSRF_LABEL = b"opsdesk-csrf-v1\x00"


@dataclass(frozen=True)
class SessionConfig:
    """Idle and absolute lifetimes of sessions, and the CSRF HMAC key."""

    idle_seconds: int
    absolute_seconds: int
    csrf_secret: str = field(repr=False)

    def new_expiries(self, now: datetime) -> tuple[datetime, datetime]:
        """Return (idle_expires_at, absolute_expires_at) for a session opened now."""
        absolute = now + timedelta(seconds=self.absolute_seconds)
        return self.next_idle_expiry(now, absolute), absolute

    def next_idle_expiry(
        self, now: datetime, absolute_expires_at: datetime
    ) -> datetime:
        """Return the idle expiry after activity at now, capped by the absolute one."""
        return min(now + timedelta(seconds=self.idle_seconds), absolute_expires_at)


def new_session_token() -> str:
    """Return a new random session token (32 bytes, URL-safe base64)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_session_token(session_token: str) -> str:
    """Return the SHA-256 hex digest under which a session is stored."""
    return hashlib.sha256(session_token.encode()).hexdigest()


def csrf_token_for(session_token: str, secret: str) -> str:
    """Derive the session's CSRF token as HMAC-SHA256 of the token under secret.

    The CSRF token is bound to one session and needs no storage, because the
    service derives it again whenever it resolves the session.
    """
    message = _CSRF_LABEL + session_token.encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def is_well_formed(session_token: str) -> bool:
    """Return True when session_token has 1 to MAX_TOKEN_CHARS characters."""
    return 0 < len(session_token) <= MAX_TOKEN_CHARS


def is_live(
    *,
    revoked_at: datetime | None,
    idle_expires_at: datetime,
    absolute_expires_at: datetime,
    now: datetime,
) -> bool:
    """Return True when the session is neither revoked nor past either expiry."""
    if revoked_at is not None:
        return False
    return now < idle_expires_at and now < absolute_expires_at


def touch_due(last_seen_at: datetime, now: datetime) -> bool:
    """Return True when last_seen_at is old enough to be written again."""
    return now - last_seen_at >= TOUCH_INTERVAL
