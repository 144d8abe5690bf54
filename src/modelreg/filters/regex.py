"""Regexes from requests run on RE2: linear time, so no pattern can stall the server (no ReDoS)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2

__all__ = ["RegexError", "safe_regex"]

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False
MAX_PATTERN_LENGTH = 1000


class RegexError(ValueError):
    pass


@lru_cache(maxsize=512)
def safe_regex(pattern: str) -> Any:
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise RegexError(f"pattern longer than {MAX_PATTERN_LENGTH} characters")
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        detail = exc.args[0] if exc.args else "invalid pattern"
        raise RegexError(detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)) from None
