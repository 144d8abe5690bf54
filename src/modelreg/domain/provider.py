"""Providers: an organization's custom providers, and the catalog's built-in provider descriptors.

Secrets never travel inside these values: a custom provider's API key and secret-like
`extra_kwargs` entries are split off at write time (split_secrets) and kept encrypted by the store.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import msgspec

from modelreg.domain.etags import entity_tag

__all__ = ["BuiltinProvider", "Provider", "is_secret_key", "split_secrets"]

# Key names that hold credentials. Matched case-insensitively against extra_kwargs keys.
_SECRET_KEY_PATTERN = re.compile(
    r"(key|secret|token|password|passwd|credential|auth|private|signature|session)", re.IGNORECASE
)


def is_secret_key(name: str) -> bool:
    return bool(_SECRET_KEY_PATTERN.search(name))


def split_secrets(extra_kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (public, secret) parts of extra_kwargs, at any depth: a secret-looking key goes to the secret
    side with everything under it; secret-looking keys inside a public object are moved too (so
    `{"headers": {"Authorization": ...}}` never leaks); a list of objects goes wholly to the secret side,
    since its items cannot be split and merged back reliably."""
    public: dict[str, Any] = {}
    secret: dict[str, Any] = {}
    for key, value in extra_kwargs.items():
        if is_secret_key(key):
            secret[key] = value
        elif isinstance(value, dict):
            inner_public, inner_secret = split_secrets(value)
            public[key] = inner_public
            if inner_secret:
                secret[key] = inner_secret
        elif isinstance(value, list) and any(isinstance(item, dict) for item in value):
            # A list of objects (litellm-style `fallbacks`) may carry keys too: the whole list is secret.
            secret[key] = value
        else:
            public[key] = value
    return public, secret


class Provider(msgspec.Struct, kw_only=True):
    """An organization's custom provider (no secrets inside)."""

    pk: int
    organization_id: str
    provider_id: str
    provider_name: str
    extra_kwargs: dict[str, Any] = msgspec.field(default_factory=dict)
    has_api_key: bool = False
    revision: int = 1
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def etag(self) -> str:
        return entity_tag("provider", self.organization_id, self.provider_id, self.created_at, self.revision)


class BuiltinProvider(msgspec.Struct, kw_only=True, frozen=True):
    """A provider of built-in catalog models (OpenAI, Anthropic, ...)."""

    provider_id: str
    provider_name: str
    moderation: str = "Unfiltered"
    credential_fields: tuple[str, ...] = ("api_key",)
