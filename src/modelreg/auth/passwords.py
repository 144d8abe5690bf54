"""Password hashing with argon2id (argon2-cffi's defaults)."""

from __future__ import annotations

import base64
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.low_level import ARGON2_VERSION

__all__ = ["DUMMY_HASH", "hash_password", "verify_password"]

_hasher = PasswordHasher()


def _unmatchable_hash() -> str:
    """A well-formed hash with the hasher's own parameters and random bytes for salt and digest: verifying any
    password against it costs what verifying a real hash costs, and none matches. Built, not hashed: every
    process importing this module (each CLI command) would otherwise pay one argon2 hash at start."""

    def b64(size: int) -> str:
        return base64.b64encode(secrets.token_bytes(size)).decode().rstrip("=")

    params = f"m={_hasher.memory_cost},t={_hasher.time_cost},p={_hasher.parallelism}"
    return f"$argon2id$v={ARGON2_VERSION}${params}${b64(_hasher.salt_len)}${b64(_hasher.hash_len)}"


# Verified against when the email is unknown, so both paths cost the same time.
DUMMY_HASH = _unmatchable_hash()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
