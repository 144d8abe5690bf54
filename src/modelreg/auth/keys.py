"""API keys: `sk_live_` + 43 URL-safe characters (32 random bytes).

Stored as a lookup prefix (the first 12 characters after `sk_live_`, unique, not secret) plus the
SHA-256 of the whole key. A slow hash buys nothing for 256 random bits, and SHA-256 keeps lookups
cheap; comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["KEY_PREFIX", "generate_api_key", "hash_api_key", "lookup_prefix", "matches"]

KEY_PREFIX = "sk_live_"
_LOOKUP_LENGTH = 12


def generate_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def lookup_prefix(key: str) -> str | None:
    if not key.startswith(KEY_PREFIX) or len(key) < len(KEY_PREFIX) + 32 or len(key) > 200:
        return None
    return key[len(KEY_PREFIX) : len(KEY_PREFIX) + _LOOKUP_LENGTH]


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def matches(key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_api_key(key), stored_hash)
