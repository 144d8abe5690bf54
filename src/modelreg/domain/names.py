"""Validation of model and provider identifiers (shared by every dialect)."""

from __future__ import annotations

import re
import unicodedata

from modelreg.domain.errors import InvalidInput

__all__ = [
    "MAX_NAME_LENGTH",
    "RESERVED_MODEL_NAMES",
    "could_be_stored",
    "validate_model_name",
    "validate_name",
    "validate_path_id",
]

MAX_NAME_LENGTH = 256
# Routes that sit beside /api/models/{model_name}/: a model with such a name could never be addressed.
RESERVED_MODEL_NAMES = frozenset({"list", "summary", "public", "model/update"})
# Suffix routes (`<name>/status/`, `<name>/revisions/`, `<name>/revisions/<n>/restore/`, `<name>/prices/`,
# `<name>/prices/<id>/`): a model named with such a last segment would be shadowed by them.
RESERVED_LAST_SEGMENTS = frozenset({"status", "revisions", "restore", "prices"})


_CONTROL = re.compile("[\x00-\x1f\x7f]")


def could_be_stored(value: str) -> bool:
    """False for a name no object can have (over-long, control characters): a lookup of it is simply not
    found, and never reaches the database (PostgreSQL refuses NUL in text). On every read: a regex, not a
    loop over the characters."""
    return len(value) <= MAX_NAME_LENGTH and _CONTROL.search(value) is None


def validate_name(value: str, field: str) -> str:
    """1-256 characters, no control characters, no leading or trailing whitespace."""
    if not value:
        raise InvalidInput("This field may not be blank.", field)
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidInput(f"Ensure this field has no more than {MAX_NAME_LENGTH} characters.", field)
    if value != value.strip():
        raise InvalidInput("Leading or trailing whitespace is not allowed.", field)
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in value):
        raise InvalidInput("Control characters are not allowed.", field)
    return value


def validate_path_id(value: str, field: str) -> str:
    """A name that is also a URL path (`/api/.../{name}/`): no empty, `.` or `..` segments."""
    validate_name(value, field)
    if any(segment in ("", ".", "..") for segment in value.split("/")):
        raise InvalidInput("This name cannot be addressed by URL (empty, '.' or '..' path segment).", field)
    return value


def validate_model_name(value: str, field: str = "model_name") -> str:
    validate_path_id(value, field)
    segments = value.split("/")
    if (
        value in RESERVED_MODEL_NAMES
        or segments[-1] in RESERVED_LAST_SEGMENTS
        or (len(segments) > 2 and segments[-2] == "prices" and segments[-1].isdigit())
    ):
        raise InvalidInput("This name is reserved or cannot be addressed by URL.", field)
    return value
