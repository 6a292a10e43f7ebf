import hashlib
from datetime import UTC, datetime, timedelta

from services.auth.sessions import (
    SessionConfig,
    csrf_token_for,
    hash_session_token,
    is_live,
    is_well_formed,
    new_session_token,
    touch_due,
)

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
SECRET = "test-csrf-secret-of-32-bytes-or-more"


def test_new_tokens_random_and_url_safe() -> None:
    tokens = {new_session_token() for _ in range(100)}

    assert len(tokens) == 100
    for token in tokens:
        assert len(token) == 43
        assert is_well_formed(token)
        assert set(token) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        )


def test_token_hash_is_sha256_hex() -> None:
    token = new_session_token()

    assert hash_session_token(token) == hashlib.sha256(token.encode()).hexdigest()


def test_csrf_token_is_bound_to_session() -> None:
    first, second = new_session_token(), new_session_token()

    assert csrf_token_for(first, SECRET) == csrf_token_for(first, SECRET)
    assert csrf_token_for(first, SECRET) != csrf_token_for(second, SECRET)


def test_csrf_token_depends_on_secret() -> None:
    token = new_session_token()

    assert csrf_token_for(token, SECRET) != csrf_token_for(token, SECRET + "x")


def test_csrf_token_differs_from_session_hash() -> None:
    token = new_session_token()

    assert csrf_token_for(token, SECRET) != hash_session_token(token)


def test_new_expiries_follow_config() -> None:
    config = SessionConfig(idle_seconds=3600, absolute_seconds=86400, csrf_secret="s")

    idle, absolute = config.new_expiries(NOW)

    assert idle == NOW + timedelta(hours=1)
    assert absolute == NOW + timedelta(days=1)


def test_idle_expiry_is_capped_by_absolute() -> None:
    config = SessionConfig(idle_seconds=3600, absolute_seconds=86400, csrf_secret="s")
    absolute = NOW + timedelta(minutes=10)

    assert config.next_idle_expiry(NOW, absolute) == absolute


def test_config_repr_hides_csrf_secret() -> None:
    config = SessionConfig(idle_seconds=1, absolute_seconds=2, csrf_secret=SECRET)

    assert SECRET not in repr(config)


def test_is_live_checks_revocation_and_expiries() -> None:
    later = NOW + timedelta(hours=1)
    earlier = NOW - timedelta(seconds=1)

    assert is_live(
        revoked_at=None, idle_expires_at=later, absolute_expires_at=later, now=NOW
    )
    assert not is_live(
        revoked_at=earlier, idle_expires_at=later, absolute_expires_at=later, now=NOW
    )
    assert not is_live(
        revoked_at=None, idle_expires_at=earlier, absolute_expires_at=later, now=NOW
    )
    assert not is_live(
        revoked_at=None, idle_expires_at=later, absolute_expires_at=earlier, now=NOW
    )
    assert not is_live(
        revoked_at=None, idle_expires_at=NOW, absolute_expires_at=later, now=NOW
    )


def test_touch_due_after_one_minute() -> None:
    assert not touch_due(NOW - timedelta(seconds=59), NOW)
    assert touch_due(NOW - timedelta(seconds=60), NOW)


def test_malformed_tokens_are_recognised() -> None:
    assert not is_well_formed("")
    assert not is_well_formed("x" * 129)
    assert is_well_formed("x" * 128)
