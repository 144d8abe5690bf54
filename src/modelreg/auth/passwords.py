"""Password hashing with argon2id (argon2-cffi's defaults)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["DUMMY_HASH", "hash_password", "verify_password"]

_hasher = PasswordHasher()
# Verified against when the email is unknown, so both paths cost the same time.
DUMMY_HASH = _hasher.hash("modelreg-dummy-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
