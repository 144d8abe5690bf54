"""genai-prices' match rules (``equals``, ``starts_with``, ``ends_with``, ``contains``, ``regex``, ``or``,
``and``) as functions, and its compact-date fallback for model refs; re-implemented, no genai_prices import."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from modelreg.catalog.sources.common import CatalogFormatError, short, type_name

__all__ = ["Matcher", "matcher", "normalize_compact_date"]

# genai-prices match rules: leaf rules take a string, "or"/"and" a list of rules.
LEAF_RULES = ("equals", "starts_with", "ends_with", "contains", "regex")
GROUP_RULES = ("or", "and")

# genai-prices turns compact dated refs ("gpt-5.2-20251211") into dashed ones as a fallback.
COMPACT_DATE = re.compile(r"(-)(20\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?=-|:|$)")


Matcher = Callable[[str], bool]


def _leaf_matcher(kind: str, needle: str, where: str) -> Matcher:
    """One leaf rule; like genai-prices, all but regex compare case-insensitively."""
    lowered = needle.lower()
    if kind == "equals":
        return lambda text: text.lower() == lowered
    if kind == "starts_with":
        return lambda text: text.lower().startswith(lowered)
    if kind == "ends_with":
        return lambda text: text.lower().endswith(lowered)
    if kind == "contains":
        return lambda text: lowered in text.lower()
    try:
        pattern = re.compile(needle)
    except re.error as exc:
        raise CatalogFormatError(f"{where}: invalid regex {short(needle)}: {exc}") from None
    return lambda text: pattern.search(text) is not None


def matcher(rule: Any, where: str) -> Matcher:
    """A genai-prices match rule (equals, starts_with, ends_with, contains, regex, or, and) as a function."""
    if not isinstance(rule, Mapping) or len(rule) != 1:
        raise CatalogFormatError(
            f"{where}: a match rule must be an object with exactly one of "
            f"{', '.join(LEAF_RULES + GROUP_RULES)}; got {short(rule)}"
        )
    ((kind, argument),) = rule.items()
    if kind in LEAF_RULES:
        if not isinstance(argument, str):
            raise CatalogFormatError(f"{where}: {kind} needs a string, got {type_name(argument)}")
        return _leaf_matcher(kind, argument, f"{where}.{kind}")
    if kind in GROUP_RULES:
        if not isinstance(argument, list):
            raise CatalogFormatError(f"{where}: {kind} needs a list of rules, got {type_name(argument)}")
        parts = [matcher(part, f"{where}.{kind}[{i}]") for i, part in enumerate(argument)]
        if kind == "or":
            return lambda text: any(part(text) for part in parts)
        return lambda text: all(part(text) for part in parts)
    raise CatalogFormatError(f"{where}: unknown match rule {short(kind)}")


def normalize_compact_date(ref: str) -> str:
    """ "gpt-5.2-20251211" -> "gpt-5.2-2025-12-11" (only for real dates), as genai-prices does."""

    def replace(match: re.Match[str]) -> str:
        year, month, day = (int(match.group(i)) for i in range(2, 5))
        try:
            date(year, month, day)
        except ValueError:
            return match.group(0)
        return f"{match.group(1)}{year:04d}-{month:02d}-{day:02d}"

    return COMPACT_DATE.sub(replace, ref)
