"""Password hashing with argon2id.

Hashing and verification are slow on purpose, so they run in a worker thread.
argon2-cffi releases the GIL while it computes, so the event loop keeps serving.
"""

import asyncio
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher, profiles
from argon2.exceptions import VerificationError

# argon2id with RFC 9106's second recommended setting: 3 iterations, 64 MiB,
# 4 lanes. Stored hashes made with other parameters are rehashed at login.
_HASHER = PasswordHasher.from_parameters(profiles.RFC_9106_LOW_MEMORY)

# Verified against when the user name is unknown, so that the call costs the
# same as checking a real password and its timing does not reveal whether the
# user exists. Built with the same hasher, so its parameters always match.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(32))


@dataclass(frozen=True)
class PasswordCheck:
    """Outcome of a verification, with a new hash when the stored one is outdated."""

    valid: bool
    new_hash: str | None = None


async def hash_password(password: str) -> str:
    """Hash password with argon2id and a random salt."""
    return await asyncio.to_thread(_HASHER.hash, password)


async def verify_password(password_hash: str, password: str) -> PasswordCheck:
    """Check password against password_hash, rehashing it when parameters changed.

    Raises argon2's InvalidHashError when password_hash is not an argon2 hash.
    """
    return await asyncio.to_thread(_verify_and_rehash, password_hash, password)


async def verify_dummy_password(password: str) -> None:
    """Spend the time of one verification without any user to check against."""
    await asyncio.to_thread(_verify, _DUMMY_HASH, password)


def _verify_and_rehash(password_hash: str, password: str) -> PasswordCheck:
    if not _verify(password_hash, password):
        return PasswordCheck(valid=False)
    if _HASHER.check_needs_rehash(password_hash):
        return PasswordCheck(valid=True, new_hash=_HASHER.hash(password))
    return PasswordCheck(valid=True)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except VerificationError:
        return False
